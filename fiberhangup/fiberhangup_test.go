package fiberhangup_test

import (
	"net"
	"testing"
	"time"

	"github.com/gofiber/fiber/v3"
	"github.com/hangup-dev/hangup/fasthttphangup"
	"github.com/hangup-dev/hangup/fiberhangup"
	"github.com/hangup-dev/hangup/internal/adaptertest"
)

// TestSuite runs the adapters' shared suite through Fiber's router. In the
// baseline, without fiberhangup, neither c.Context() nor c itself learns
// that the client left.
func TestSuite(t *testing.T) {
	adaptertest.Run(t, adaptertest.Server{Name: "Fiber", Start: startSuite, Status: true})
}

func startSuite(t testing.TB, rec *adaptertest.Recorder, mode adaptertest.Mode) (string, adaptertest.Guard) {
	app := fiber.New()
	var g *fasthttphangup.Guard
	if mode != adaptertest.Plain {
		g = fiberhangup.Install(app)
	}
	if mode == adaptertest.MustFinish {
		app.All(adaptertest.Path, fiberhangup.MustFinish(adaptertest.WaitLong), handler(rec))
	} else {
		app.All(adaptertest.Path, handler(rec))
	}
	return listen(t, app), g
}

// handler reports to rec what c.Context() went through, and c itself
// (fasthttp's own Done, closed only at shutdown).
func handler(rec *adaptertest.Recorder) fiber.Handler {
	return func(c fiber.Ctx) error {
		ctx := c.Context()
		o := rec.Observe(ctx, fasthttphangup.Gone(ctx), c.Done())
		o.Cause, o.Status = fiberhangup.Cause(c), fiberhangup.Status(c)
		o.Departure, o.Departed = fiberhangup.Departed(c)
		rec.Record(o)
		return c.SendString("done")
	}
}

// listen serves app on loopback until the test ends.
func listen(t testing.TB, app *fiber.App) string {
	t.Helper()
	// fasthttp's worker-pool cleaner notices a stopped server only after
	// sleeping this long (10 s by default), which goleak would see.
	app.Server().MaxIdleWorkerDuration = 20 * time.Millisecond
	return adaptertest.Serve(t, func(ln net.Listener) error {
		return app.Listener(ln, fiber.ListenConfig{DisableStartupMessage: true})
	}, app.ShutdownWithContext)
}

func TestAccessLog(t *testing.T) {
	logs := adaptertest.NewLogs()
	rec := adaptertest.NewRecorder(adaptertest.WaitLong)
	app := fiber.New()
	fiberhangup.Install(app, fasthttphangup.WithAccessLog(logs.Logger()))
	app.Post("/items/:id", handler(rec))
	app.Get("/teapot", func(fiber.Ctx) error { return fiber.ErrTeapot })
	addr := listen(t, app)

	// An error from the chain goes through Fiber's ErrorHandler first.
	c := adaptertest.Dial(t, addr)
	c.Send(adaptertest.Get("/teapot"))
	if res := c.ReadResponse(); res.StatusCode != fiber.StatusTeapot {
		t.Errorf("status %d, want 418", res.StatusCode)
	}
	adaptertest.WantAttrs(t, logs.Next(t), map[string]any{"status": int64(fiber.StatusTeapot), "route": "/teapot"})

	adaptertest.Abandon(t, addr, adaptertest.Post("/items/7", 5, "hello"), adaptertest.FIN, rec)
	line := logs.Next(t)
	adaptertest.Want499(t, line, "/items/7")
	adaptertest.WantAttrs(t, line, map[string]any{"route": "/items/:id", "handler_status": int64(200)})
}

func TestMustFinishPanics(t *testing.T) {
	adaptertest.WantPanic(t, "MustFinish(0)", func() { fiberhangup.MustFinish(0) })
}
