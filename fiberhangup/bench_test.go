package fiberhangup_test

import (
	"testing"

	"github.com/gofiber/fiber/v3"
	"github.com/hangup-dev/hangup/fiberhangup"
	"github.com/hangup-dev/hangup/internal/adaptertest"
	"github.com/valyala/fasthttp"
)

// helloFiber is Fiber with the benchmarks' hello-world route, with
// fiberhangup.Install if install.
func helloFiber(install bool) *fiber.App {
	app := fiber.New()
	if install {
		fiberhangup.Install(app)
	}
	app.Get(adaptertest.HelloPath, func(c fiber.Ctx) error { return c.SendString(adaptertest.HelloBody) })
	return app
}

// BenchmarkHello measures one hello-world request on a keep-alive loopback
// connection, through plain Fiber and through Fiber with Install.
func BenchmarkHello(b *testing.B) {
	adaptertest.BenchHello(b, func(b *testing.B, install bool) string { return listen(b, helloFiber(install)) })
}

// BenchmarkHandlerInProcess calls Fiber's fasthttp handler directly, without
// sockets, so that the middleware's own per-request cost stands out of the
// network's noise.
func BenchmarkHandlerInProcess(b *testing.B) {
	adaptertest.Compare(b, func(b *testing.B, install bool) {
		h := helloFiber(install).Handler()
		var req fasthttp.Request
		req.SetRequestURI(adaptertest.HelloPath)
		var fctx fasthttp.RequestCtx
		fctx.Init(&req, nil, nil)
		b.ReportAllocs()
		for range b.N {
			h(&fctx)
			fctx.ResetUserValues() // as fasthttp does after each request
			fctx.Response.Reset()
		}
	})
}
