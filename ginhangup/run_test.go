package ginhangup_test

import (
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/hangup-dev/hangup"
	"github.com/hangup-dev/hangup/ginhangup"
	"github.com/hangup-dev/hangup/internal/adaptertest"
)

// captureWarnings records what is logged with slog's default logger while
// the test runs, with the once-per-process warnings reset.
func captureWarnings(t *testing.T) *adaptertest.Warnings {
	ginhangup.ResetWarning()
	return adaptertest.CaptureWarnings(t)
}

// TestWarnsWithoutHangup: an engine served without hangup, as r.Run serves
// it. Its helpers cannot work, and the first of them to run says so, once
// for the whole process, naming the fix; the next requests add nothing.
func TestWarnsWithoutHangup(t *testing.T) {
	w := captureWarnings(t)
	var ginLog syncBuffer
	r := gin.New()
	r.Use(gin.LoggerWithConfig(gin.LoggerConfig{Formatter: ginhangup.LogFormatter(nil), Output: &ginLog}))
	r.POST(adaptertest.Path, ginhangup.MustFinish(adaptertest.WaitLong), func(c *gin.Context) {
		ginhangup.Departed(c)
		ginhangup.Status(c)
		ginhangup.Cause(c)
		c.String(http.StatusOK, "done")
	})
	addr, _ := serve(t, r, false)
	c := adaptertest.Dial(t, addr)
	for range 3 {
		c.Send(adaptertest.PostWhole)
		if res := c.ReadResponse(); res.StatusCode != http.StatusOK {
			t.Fatalf("status %d", res.StatusCode)
		}
	}
	got := w.All()
	if len(got) != 1 {
		t.Fatalf("logged %q, want one warning", got)
	}
	if !strings.HasPrefix(got[0], "WARN ") || !strings.Contains(got[0], "r.Run") || !strings.Contains(got[0], "ginhangup.Run(r, addr)") {
		t.Errorf("warning %q does not name the problem and the fix", got[0])
	}
}

// TestRunListener: the replacement for r.Run (here r.RunListener) serves
// the engine with hangup installed: a POST whose body the handler never
// reads, then the client's FIN, cancels the handler's context with cause
// hangup.ErrClientGone, and nothing is warned.
func TestRunListener(t *testing.T) {
	w := captureWarnings(t)
	rec := adaptertest.NewRecorder(adaptertest.WaitLong)
	r := gin.New()
	r.ContextWithFallback = true
	r.POST(adaptertest.Path, handler(rec))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- ginhangup.RunListener(r, ln) }()
	o := adaptertest.Abandon(t, ln.Addr().String(), adaptertest.PostCutShort, adaptertest.FIN, rec)
	adaptertest.WantGone(t, o, hangup.ReasonClosed)
	if o.Status != hangup.StatusClientClosedRequest {
		t.Errorf("Status = %d, want 499", o.Status)
	}
	ln.Close()
	if err := <-done; !errors.Is(err, net.ErrClosed) {
		t.Errorf("RunListener returned %v, want net.ErrClosed", err)
	}
	if got := w.All(); len(got) != 0 {
		t.Errorf("logged %q on a guarded server", got)
	}
}
