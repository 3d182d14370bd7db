package fasthttphangup_test

import (
	"testing"

	"github.com/hangup-dev/hangup/fasthttphangup"
	"github.com/hangup-dev/hangup/internal/adaptertest"
	"github.com/valyala/fasthttp"
)

func hello(fctx *fasthttp.RequestCtx) { fctx.SetBodyString(adaptertest.HelloBody) }

// BenchmarkHello measures one hello-world request on a keep-alive loopback
// connection (a real socket: fasthttputil's in-memory listener cannot be
// watched), through plain fasthttp and through fasthttp with Install.
func BenchmarkHello(b *testing.B) {
	adaptertest.BenchHello(b, func(b *testing.B, install bool) string {
		s := &fasthttp.Server{Handler: hello}
		if install {
			fasthttphangup.Install(s)
		}
		return serve(b, s)
	})
}

// BenchmarkHandlerInProcess calls the handler directly, without sockets, so
// that the Guard's own per-request cost stands out of the network's noise:
// context, state, connection lookup, counters.
func BenchmarkHandlerInProcess(b *testing.B) {
	adaptertest.Compare(b, func(b *testing.B, install bool) {
		h := fasthttp.RequestHandler(hello)
		if install {
			g := fasthttphangup.New()
			g.Watch(&fasthttp.Server{})
			h = g.Handler(hello)
		}
		var req fasthttp.Request
		req.SetRequestURI(adaptertest.HelloPath)
		var fctx fasthttp.RequestCtx
		fctx.Init(&req, nil, nil)
		b.ReportAllocs()
		for range b.N {
			h(&fctx)
			fctx.ResetUserValues() // as fasthttp does after each request
			fctx.Response.ResetBody()
		}
	})
}
