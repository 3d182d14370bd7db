package echohangup_test

import (
	"net/http"
	"testing"

	"github.com/hangup-dev/hangup/echohangup"
	"github.com/hangup-dev/hangup/internal/adaptertest"
	"github.com/labstack/echo/v4"
)

// helloEcho is Echo with the benchmarks' hello-world route, with
// echohangup.Install if install.
func helloEcho(install bool) *echo.Echo {
	e := echo.New()
	if install {
		echohangup.Install(e)
	}
	e.GET(adaptertest.HelloPath, func(c echo.Context) error { return c.String(http.StatusOK, adaptertest.HelloBody) })
	return e
}

// BenchmarkHello measures one hello-world request on a keep-alive loopback
// connection, through plain Echo and through Echo with echohangup.Install.
func BenchmarkHello(b *testing.B) {
	adaptertest.BenchHello(b, func(b *testing.B, install bool) string { return start(b, helloEcho(install)) })
}

// BenchmarkHandlerInProcess: plain Echo, and Echo with echohangup.Install.
func BenchmarkHandlerInProcess(b *testing.B) {
	adaptertest.BenchInProcess(b, func(install bool) *http.Server { return helloEcho(install).Server })
}
