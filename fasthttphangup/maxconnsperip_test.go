package fasthttphangup_test

import (
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hangup-dev/hangup"
	"github.com/hangup-dev/hangup/fasthttphangup"
	"github.com/hangup-dev/hangup/internal/adaptertest"
	"github.com/valyala/fasthttp"
)

// serveListener runs s on a loopback listener, through g.Listener if g is
// not nil, until the test ends.
func serveListener(t *testing.T, s *fasthttp.Server, g *fasthttphangup.Guard) string {
	t.Helper()
	s.MaxIdleWorkerDuration = 20 * time.Millisecond // see serve
	return adaptertest.Serve(t, func(ln net.Listener) error {
		if g != nil {
			ln = g.Listener(ln)
		}
		return s.Serve(ln)
	}, s.ShutdownWithContext)
}

// TestMaxConnsPerIP: with Server.MaxConnsPerIP, fasthttp hides each
// connection's socket in a wrapper of its own. Served through g.Listener,
// the connection is watched all the same, and the client's FIN cancels its
// handler's context with cause hangup.ErrClientGone.
func TestMaxConnsPerIP(t *testing.T) {
	warned := captureWarnings(t)
	rec := adaptertest.NewRecorder(adaptertest.WaitLong)
	s := &fasthttp.Server{Handler: handler(rec), MaxConnsPerIP: 4}
	g := fasthttphangup.Install(s)
	c := adaptertest.Dial(t, serveListener(t, s, g))
	c.Send(adaptertest.PostWhole)
	rec.WaitEntered(t)
	if st := g.Stats(); st.Conns != 1 || st.Watched != 1 {
		t.Errorf("Conns %d, Watched %d; want the connection watched", st.Conns, st.Watched)
	}
	c.Leave(adaptertest.FIN)
	adaptertest.WantGone(t, rec.Result(t), hangup.ReasonClosed)
	adaptertest.Eventually(t, "connection closed and forgotten", func() bool {
		return g.Stats().Conns == 0 && g.Sockets() == 0
	})
	if got := warned.All(); len(got) != 0 {
		t.Errorf("warned %q", got)
	}
}

// TestMaxConnsPerIPRejected: a connection fasthttp rejects for being over
// MaxConnsPerIP (429, closed, never served) leaves nothing behind in the
// Guard's listener.
func TestMaxConnsPerIPRejected(t *testing.T) {
	s := &fasthttp.Server{Handler: func(fctx *fasthttp.RequestCtx) { fctx.SetBodyString("hi") }, MaxConnsPerIP: 1, Logger: quiet{}}
	g := fasthttphangup.Install(s)
	addr := serveListener(t, s, g)
	a := adaptertest.Dial(t, addr)
	a.Send(adaptertest.GET)
	a.ReadResponse()
	b := adaptertest.Dial(t, addr)
	if res := b.ReadResponse(); res.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("second connection: status %d, want 429", res.StatusCode)
	}
	adaptertest.Eventually(t, "the rejected connection forgotten", func() bool { return g.Sockets() == 1 })
	a.Leave(adaptertest.FIN)
	adaptertest.Eventually(t, "every connection forgotten", func() bool { return g.Sockets() == 0 && g.Stats().Conns == 0 })
}

// quiet is a fasthttp.Logger that drops what fasthttp says of a rejection.
type quiet struct{}

func (quiet) Printf(string, ...any) {}

// TestMaxConnsPerIPWarns: served without g.Listener, MaxConnsPerIP leaves
// the Guard unable to watch; it says so, once, naming the fix, and does not
// pretend: Stats shows the connection unwatched.
func TestMaxConnsPerIPWarns(t *testing.T) {
	warned := captureWarnings(t)
	s := &fasthttp.Server{Handler: func(fctx *fasthttp.RequestCtx) { fctx.SetBodyString("hi") }, MaxConnsPerIP: 4}
	g := fasthttphangup.Install(s)
	addr := serveListener(t, s, nil)
	for range 2 {
		c := adaptertest.Dial(t, addr)
		c.Send(adaptertest.GET)
		c.ReadResponse()
		if st := g.Stats(); st.Conns != 1 || st.Watched != 0 {
			t.Errorf("Conns %d, Watched %d; want one unwatched", st.Conns, st.Watched)
		}
		c.Leave(adaptertest.FIN)
		adaptertest.Eventually(t, "connection closed", func() bool { return g.Stats().Conns == 0 })
	}
	got := warned.All()
	if len(got) != 1 {
		t.Fatalf("logged %q, want one warning", got)
	}
	if !strings.HasPrefix(got[0], "WARN ") || !strings.Contains(got[0], "MaxConnsPerIP") || !strings.Contains(got[0], "s.Serve(g.Listener(ln))") {
		t.Errorf("warning %q does not name the cause and the fix", got[0])
	}
}

// captureWarnings records what is logged with slog's default logger while
// the test runs.
func captureWarnings(t *testing.T) *adaptertest.Warnings {
	return adaptertest.CaptureWarnings(t)
}
