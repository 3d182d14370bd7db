package fasthttphangup_test

import (
	"context"
	"testing"
	"time"

	"github.com/hangup-dev/hangup/fasthttphangup"
	"github.com/hangup-dev/hangup/internal/adaptertest"
	"github.com/valyala/fasthttp"
)

func startSuite(t testing.TB, rec *adaptertest.Recorder, mode adaptertest.Mode) (string, adaptertest.Guard) {
	h := handler(rec)
	if mode == adaptertest.MustFinish {
		h = fasthttphangup.MustFinish(h, adaptertest.WaitLong)
	}
	s := &fasthttp.Server{Handler: h}
	var g *fasthttphangup.Guard
	if mode != adaptertest.Plain {
		g = fasthttphangup.Install(s)
	}
	return serve(t, s), g
}

// handler reports to rec what its request's context went through; fasthttp
// has no router, so it serves every path.
func handler(rec *adaptertest.Recorder) fasthttp.RequestHandler {
	return func(fctx *fasthttp.RequestCtx) {
		ctx := fasthttphangup.Context(fctx)
		o := rec.Observe(ctx, fasthttphangup.Gone(ctx))
		o.Cause = context.Cause(ctx)
		o.Departure, o.Departed = fasthttphangup.Departed(ctx)
		rec.Record(o)
		fctx.SetBodyString("done")
	}
}

// serve runs s on a loopback listener until the test ends.
func serve(t testing.TB, s *fasthttp.Server) string {
	t.Helper()
	// fasthttp's worker-pool cleaner notices a stopped server only after
	// sleeping this long (10 s by default), which goleak would see.
	s.MaxIdleWorkerDuration = 20 * time.Millisecond
	return adaptertest.Serve(t, s.Serve, s.ShutdownWithContext)
}
