package fiberhangup_test

import (
	"bufio"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v3"
	"github.com/hangup-dev/hangup/fiberhangup"
	"github.com/hangup-dev/hangup/internal/adaptertest"
)

const trials = 100

// quietApp is a Fiber app whose responses carry no Date header, so that a
// test knows every byte of them; with fiberhangup installed if install.
func quietApp(install bool) *fiber.App {
	app := fiber.New()
	app.Server().NoDefaultDate = true
	if install {
		fiberhangup.Install(app)
	}
	return app
}

// halfCloseAndRead sends req on a new connection, half-closes at once and
// returns every byte the server sends until it closes.
func halfCloseAndRead(t *testing.T, addr, req string) string {
	t.Helper()
	c := adaptertest.Dial(t, addr)
	c.Send(req)
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(adaptertest.WaitLong))
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("reading until the server closes: %v (got %q)", err, b)
	}
	c.Close()
	return string(b)
}

func waitDone(c fiber.Ctx) {
	select {
	case <-c.Context().Done():
	case <-time.After(adaptertest.WaitLong):
	}
}

// TestHalfCloseOnFiber is issue 15's cases 13 and 14 through Fiber's
// router: a half-closed client gets the handler's real answer, the bytes
// Fiber alone sends; a handler that wrote nothing for a departed client
// sends nothing; and of two pipelined requests, a success reply comes only
// for a handler that ran.
func TestHalfCloseOnFiber(t *testing.T) {
	plain := quietApp(false)
	plain.Get(adaptertest.Path, func(c fiber.Ctx) error { return c.SendString("done") })
	want := halfCloseAndRead(t, listen(t, plain), adaptertest.GET)
	if !strings.HasSuffix(want, "\r\n\r\ndone") {
		t.Fatalf("plain Fiber sent %q", want)
	}

	ran := make(chan string, 2*trials)
	app := quietApp(true)
	app.Get(adaptertest.Path, func(c fiber.Ctx) error { return c.SendString("done") })
	app.Get("/after-cancel", func(c fiber.Ctx) error {
		waitDone(c)
		return c.SendString("done")
	})
	app.Get("/nothing", func(c fiber.Ctx) error {
		waitDone(c)
		return nil
	})
	app.Get("/:n", func(c fiber.Ctx) error {
		ran <- strings.Clone(c.Path()) // Fiber reuses the buffer behind Path
		waitDone(c)
		return c.SendString("done " + c.Path())
	})
	addr := listen(t, app)

	t.Run("answered", func(t *testing.T) {
		for _, path := range []string{adaptertest.Path, "/after-cancel"} {
			lost := 0
			for i := 0; i < 3*trials; i++ {
				if got := halfCloseAndRead(t, addr, adaptertest.Get(path)); got != want {
					if lost++; lost <= 3 {
						t.Errorf("%s, trial %d: got %q, want %q as plain Fiber sends", path, i, got, want)
					}
				}
			}
			if lost > 0 {
				t.Fatalf("%s: %d of %d answers lost or changed", path, lost, 3*trials)
			}
		}
	})
	t.Run("nothing-written", func(t *testing.T) {
		for i := 0; i < trials; i++ {
			if got := halfCloseAndRead(t, addr, adaptertest.Get("/nothing")); got != "" {
				t.Fatalf("trial %d: the client read %q, want nothing", i, got)
			}
		}
	})
	t.Run("pipelined", func(t *testing.T) {
		for i := 0; i < trials; i++ {
			got := halfCloseAndRead(t, addr, adaptertest.Get("/1")+adaptertest.Get("/2"))
			var paths []string
			for len(ran) > 0 {
				paths = append(paths, <-ran)
			}
			var bodies []string
			br := bufio.NewReader(strings.NewReader(got))
			for {
				if _, err := br.Peek(1); err != nil {
					break
				}
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Fatalf("trial %d: %v (read %q)", i, err, got)
				}
				b, _ := io.ReadAll(resp.Body)
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("trial %d: status %d (read %q)", i, resp.StatusCode, got)
				}
				bodies = append(bodies, string(b))
			}
			if len(bodies) == 0 || len(bodies) > len(paths) {
				t.Fatalf("trial %d: answers %q for the handlers that ran, %v (read %q)", i, bodies, paths, got)
			}
			for k, b := range bodies {
				if p := "/" + string(rune('1'+k)); b != "done "+p || paths[k] != p {
					t.Fatalf("trial %d: answer %d is %q, handlers that ran %v", i, k+1, b, paths)
				}
			}
		}
	})
}
