//go:build tools

// Package deps pins the modules that the project's subpackages use while
// they are being written, so that concurrent work does not fight over go.mod.
package deps

import (
	_ "github.com/chromedp/chromedp"
	_ "github.com/gin-gonic/gin"
	_ "github.com/go-chi/chi/v5"
	_ "github.com/gofiber/fiber/v3"
	_ "github.com/jackc/pgx/v5"
	_ "github.com/labstack/echo/v4"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/prometheus/client_golang/prometheus/promhttp"
	_ "github.com/prometheus/client_golang/prometheus/testutil"
	_ "github.com/valyala/fasthttp"
	_ "go.uber.org/goleak"
	_ "golang.org/x/net/http2"
	_ "golang.org/x/sys/unix"
	_ "golang.org/x/tools/go/analysis"
	_ "modernc.org/sqlite"
)
