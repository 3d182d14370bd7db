package echohangup_test

import (
	"net"
	"net/http"
	"testing"

	"github.com/hangup-dev/hangup"
	"github.com/hangup-dev/hangup/echohangup"
	"github.com/hangup-dev/hangup/internal/adaptertest"
	"github.com/labstack/echo/v4"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestSuite runs the adapters' shared suite through Echo's router.
func TestSuite(t *testing.T) {
	adaptertest.Run(t, adaptertest.Server{Name: "Echo", Start: startSuite, NetHTTP: true, Status: true})
}

func startSuite(t testing.TB, rec *adaptertest.Recorder, mode adaptertest.Mode) (string, adaptertest.Guard) {
	e := echo.New()
	var g *hangup.Guard
	if mode != adaptertest.Plain {
		g = echohangup.Install(e)
	}
	var mw []echo.MiddlewareFunc
	if mode == adaptertest.MustFinish {
		mw = append(mw, echohangup.MustFinish(adaptertest.WaitLong))
	}
	e.Any(adaptertest.Path, handler(rec), mw...)
	return start(t, e), g
}

// handler reports to rec what its request's context went through.
func handler(rec *adaptertest.Recorder) echo.HandlerFunc {
	return func(c echo.Context) error {
		ctx := c.Request().Context()
		o := rec.Observe(ctx, hangup.Gone(ctx))
		o.Cause, o.Status = echohangup.Cause(c), echohangup.Status(c)
		o.Departure, o.Departed = echohangup.Departed(c)
		rec.Record(o)
		return c.String(http.StatusOK, "done")
	}
}

// start serves e with e.Start, Echo's own way, on a loopback listener.
func start(t testing.TB, e *echo.Echo) string {
	t.Helper()
	e.HideBanner, e.HidePort = true, true
	return adaptertest.Serve(t, func(ln net.Listener) error {
		e.Listener = ln
		return e.Start("")
	}, e.Shutdown)
}

func TestAccessLog(t *testing.T) {
	logs := adaptertest.NewLogs()
	reports := make(chan hangup.Report, 4)
	rec := adaptertest.NewRecorder(adaptertest.WaitLong)
	e := echo.New()
	echohangup.Install(e, hangup.WithAccessLog(logs.Logger()), hangup.OnAbandon(func(r hangup.Report) { reports <- r }))
	e.POST("/items/:id", handler(rec))
	e.GET("/teapot", func(echo.Context) error { return echo.NewHTTPError(http.StatusTeapot) })
	addr := start(t, e)

	// An error from the handler is written inside the Guard, so its status
	// is the one logged.
	c := adaptertest.Dial(t, addr)
	c.Send(adaptertest.Get("/teapot"))
	if res := c.ReadResponse(); res.StatusCode != http.StatusTeapot {
		t.Fatalf("status %d, want 418", res.StatusCode)
	}
	adaptertest.WantAttrs(t, logs.Next(t), map[string]any{"status": int64(http.StatusTeapot)})

	adaptertest.Abandon(t, addr, adaptertest.Post("/items/7", 1000, "hello"), adaptertest.FIN, rec)
	adaptertest.Want499(t, logs.Next(t), "/items/7")
	if r := <-reports; r.Route != "/items/:id" || r.Status != http.StatusOK {
		t.Errorf("report route %q status %d, want Echo's route and 200", r.Route, r.Status)
	}
}

func TestMustFinishPanics(t *testing.T) {
	adaptertest.WantPanic(t, "MustFinish(0)", func() { echohangup.MustFinish(0) })
}
