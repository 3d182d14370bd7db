package ginhangup_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/hangup-dev/hangup"
	"github.com/hangup-dev/hangup/ginhangup"
	"github.com/hangup-dev/hangup/internal/adaptertest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	gin.SetMode(gin.ReleaseMode)
	goleak.VerifyTestMain(m)
}

// TestSuite runs the adapters' shared suite through Gin's router.
func TestSuite(t *testing.T) {
	adaptertest.Run(t, adaptertest.Server{Name: "Gin", Start: startSuite, NetHTTP: true, Status: true})
}

func startSuite(t testing.TB, rec *adaptertest.Recorder, mode adaptertest.Mode) (string, adaptertest.Guard) {
	r := gin.New()
	chain := []gin.HandlerFunc{handler(rec)}
	if mode == adaptertest.MustFinish {
		chain = append([]gin.HandlerFunc{ginhangup.MustFinish(adaptertest.WaitLong)}, chain...)
	}
	r.Any(adaptertest.Path, chain...)
	return serve(t, r, mode != adaptertest.Plain)
}

// handler reports to rec what its request's context went through. It also
// waits on c itself, which works because serve sets ContextWithFallback.
func handler(rec *adaptertest.Recorder) gin.HandlerFunc {
	return func(c *gin.Context) {
		ctx := c.Request.Context()
		o := rec.Observe(ctx, hangup.Gone(ctx), c.Done())
		o.Cause, o.Status = ginhangup.Cause(c), ginhangup.Status(c)
		o.Departure, o.Departed = ginhangup.Departed(c)
		rec.Record(o)
		c.String(http.StatusOK, "done")
	}
}

// serve serves r on loopback, with hangup installed (with opts) if install.
func serve(t testing.TB, r *gin.Engine, install bool, opts ...hangup.Option) (string, *hangup.Guard) {
	t.Helper()
	r.ContextWithFallback = true
	return adaptertest.ServeHTTP(t, r, install, opts...)
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestAccessLog499 checks both hangup's own access log and Gin's logger
// with LogFormatter.
func TestAccessLog499(t *testing.T) {
	logs := adaptertest.NewLogs()
	var ginLog syncBuffer
	rec := adaptertest.NewRecorder(adaptertest.WaitLong)
	r := gin.New()
	r.Use(gin.LoggerWithConfig(gin.LoggerConfig{
		Formatter: ginhangup.LogFormatter(func(p gin.LogFormatterParams) string {
			return fmt.Sprintf("%s %s %d\n", p.Method, p.Path, p.StatusCode)
		}),
		Output: &ginLog,
	}))
	r.POST(adaptertest.Path, handler(rec))
	addr, _ := serve(t, r, true, hangup.WithAccessLog(logs.Logger()))
	adaptertest.Abandon(t, addr, adaptertest.PostCutShort, adaptertest.FIN, rec)
	adaptertest.Want499(t, logs.Next(t), adaptertest.Path)
	if got := ginLog.String(); got != "POST /work 499\n" {
		t.Errorf("gin log %q, want status 499", got)
	}
}

func TestMustFinishPanics(t *testing.T) {
	adaptertest.WantPanic(t, "MustFinish(0)", func() { ginhangup.MustFinish(0) })
}
