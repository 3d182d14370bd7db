package ginhangup_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/hangup-dev/hangup"
	"github.com/hangup-dev/hangup/ginhangup"
	"github.com/hangup-dev/hangup/internal/adaptertest"
)

// warnings captures what is logged with slog's default logger while a test
// runs (the tests of this package that call it do not run in parallel).
type warnings struct {
	mu   sync.Mutex
	msgs []string
}

func captureWarnings(t *testing.T) *warnings {
	w := &warnings{}
	old := slog.Default()
	slog.SetDefault(slog.New(w))
	t.Cleanup(func() { slog.SetDefault(old) })
	ginhangup.ResetWarning()
	return w
}

func (w *warnings) Enabled(context.Context, slog.Level) bool { return true }
func (w *warnings) WithAttrs([]slog.Attr) slog.Handler       { return w }
func (w *warnings) WithGroup(string) slog.Handler            { return w }
func (w *warnings) Handle(_ context.Context, r slog.Record) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.msgs = append(w.msgs, r.Level.String()+" "+r.Message)
	return nil
}

func (w *warnings) all() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.msgs...)
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
	got := w.all()
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
	if got := w.all(); len(got) != 0 {
		t.Errorf("logged %q on a guarded server", got)
	}
}
