// Package roots has one handler of each kind hangupvet starts from, each
// sleeping, and functions of similar shapes that are not handlers.
package roots

import (
	"context"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/go-chi/chi/v5"
	"github.com/gofiber/fiber/v3"
	"github.com/labstack/echo/v4"
)

func upload(w http.ResponseWriter, r *http.Request) {
	time.Sleep(time.Second) // want `^time\.Sleep ignores the request's context: the handler keeps sleeping after the client left \(handler upload\); select on r\.Context\(\)\.Done\(\) and a timer$`
}

type files struct{}

func (f *files) ServeHTTP(w http.ResponseWriter, r *http.Request) { // want ServeHTTP:`breaksChain: time\.Sleep ignores the request's context in roots\.files\.ServeHTTP`
	time.Sleep(time.Second) // want `\(handler files\.ServeHTTP\)`
}

func (f *files) list(w http.ResponseWriter, r *http.Request) {
	time.Sleep(time.Second) // want `\(handler files\.list\)`
}

func routes(mux *http.ServeMux, e *echo.Echo, g *gin.Engine, a *fiber.App, c *chi.Mux) {
	http.HandleFunc("/upload", func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(time.Second) // want `\(handler "/upload"\); select on r\.Context\(\)\.Done\(\)`
	})
	mux.HandleFunc("POST /files", func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(time.Second) // want `\(handler "POST /files"\)`
	})
	mux.Handle("/wrapped", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(time.Second) // want `\(handler "/wrapped"\)`
	}))
	e.GET("/echo", func(c echo.Context) error {
		time.Sleep(time.Second) // want `\(handler "/echo"\); select on c\.Request\(\)\.Context\(\)\.Done\(\)`
		return nil
	})
	g.GET("/gin", func(c *gin.Context) {
		time.Sleep(time.Second) // want `\(handler "/gin"\); select on c\.Request\.Context\(\)\.Done\(\)`
	})
	a.Get("/fiber", func(c fiber.Ctx) error {
		time.Sleep(time.Second) // want `\(handler "/fiber"\); select on c\.Context\(\)\.Done\(\)`
		return nil
	})
	c.Get("/chi", func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(time.Second) // want `\(handler "/chi"\)`
	})
	register(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(time.Second) // want `\(handler func literal \(roots\.go:54\)\)`
	})
	time.Sleep(time.Second) // routes runs at start-up, not per request
}

var download = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	time.Sleep(time.Second) // want `\(handler download\)`
})

func register(h http.HandlerFunc) {}

func echoHandler(c echo.Context) error {
	time.Sleep(time.Second) // want `\(handler echoHandler\)`
	return nil
}

func ginHandler(c *gin.Context) {
	time.Sleep(time.Second) // want `\(handler ginHandler\)`
}

func fiberHandler(c fiber.Ctx) error {
	time.Sleep(time.Second) // want `\(handler fiberHandler\)`
	return nil
}

// Look-alikes: none of these is a handler, and nothing calls them from one.

func notAHandler(w http.ResponseWriter) {
	time.Sleep(time.Second)
}

func returnsSomething(w http.ResponseWriter, r *http.Request) error {
	time.Sleep(time.Second)
	return nil
}

func echoWithoutError(c echo.Context) {
	time.Sleep(time.Second)
}

func ginByValue(c gin.Context) {
	time.Sleep(time.Second)
}

func worker(ctx context.Context) {
	time.Sleep(time.Second)
}

func main() {
	go worker(context.Background())
	time.Sleep(time.Second)
}
