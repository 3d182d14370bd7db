package ginhangup_test

import (
	"net/http"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/hangup-dev/hangup/internal/adaptertest"
)

// helloGin is Gin with the benchmarks' hello-world route.
func helloGin() *gin.Engine {
	r := gin.New()
	r.GET(adaptertest.HelloPath, func(c *gin.Context) { c.String(http.StatusOK, adaptertest.HelloBody) })
	return r
}

// BenchmarkHello measures one hello-world request on a keep-alive loopback
// connection, through plain Gin and through Gin with hangup.Install.
func BenchmarkHello(b *testing.B) { adaptertest.BenchHelloHTTP(b, helloGin()) }

// BenchmarkHandlerInProcess: plain Gin, and Gin with hangup.Install.
func BenchmarkHandlerInProcess(b *testing.B) { adaptertest.BenchInProcessHTTP(b, helloGin()) }
