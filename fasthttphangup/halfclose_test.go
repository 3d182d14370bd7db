package fasthttphangup_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hangup-dev/hangup"
	"github.com/hangup-dev/hangup/fasthttphangup"
	"github.com/hangup-dev/hangup/internal/adaptertest"
	"github.com/valyala/fasthttp"
)

// trials is how many connections each race test opens: the client's FIN
// races fasthttp's reading of the request.
const trials = 100

// quietServer is a fasthttp server whose responses hold no Date or Server
// header, so that a test knows every byte of them.
func quietServer(h fasthttp.RequestHandler) *fasthttp.Server {
	return &fasthttp.Server{Handler: h, NoDefaultDate: true, NoDefaultServerHeader: true, NoDefaultContentType: true}
}

// halfCloseAndRead opens a connection to addr, sends req, shuts down its
// writing side at once (nc -N) and returns every byte the server sends
// until it closes.
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

// waitDone waits for the request's context to end, as a handler that checks
// it does; it reports whether it did.
func waitDone(fctx *fasthttp.RequestCtx) bool {
	select {
	case <-fasthttphangup.Context(fctx).Done():
		return true
	case <-time.After(adaptertest.WaitLong):
		return false
	}
}

// TestHalfClosedClientIsAnswered is issue 15's case 13: a client sends a
// whole request and half-closes; the handler answers whatever its context
// says. Plain fasthttp delivers the answer; with the Guard, the client must
// get the same bytes, never fasthttp's empty 200 for a handler that was
// skipped.
func TestHalfClosedClientIsAnswered(t *testing.T) {
	for _, waits := range []bool{false, true} {
		name := "answers-at-once"
		if waits {
			name = "answers-after-cancel"
		}
		t.Run(name, func(t *testing.T) {
			var cancelled atomic.Int32
			h := func(fctx *fasthttp.RequestCtx) {
				if waits && waitDone(fctx) {
					ctx := fasthttphangup.Context(fctx)
					if d, ok := fasthttphangup.Departed(ctx); ok && d.Phase == hangup.PhaseHandler &&
						errors.Is(context.Cause(ctx), hangup.ErrClientGone) {
						cancelled.Add(1)
					}
				}
				fctx.SetBodyString("done")
			}
			// What fasthttp alone sends (its context never ends: no wait).
			want := halfCloseAndRead(t, serve(t, quietServer(func(fctx *fasthttp.RequestCtx) {
				fctx.SetBodyString("done")
			})), adaptertest.GET)
			if !strings.HasSuffix(want, "\r\n\r\ndone") {
				t.Fatalf("plain fasthttp sent %q", want)
			}
			s := quietServer(h)
			fasthttphangup.Install(s)
			addr := serve(t, s)
			lost := 0
			for i := 0; i < 3*trials; i++ { // a few in a hundred used to be lost
				if got := halfCloseAndRead(t, addr, adaptertest.GET); got != want {
					if lost++; lost <= 3 {
						t.Errorf("trial %d: got %q, want %q as plain fasthttp sends", i, got, want)
					}
				}
			}
			if lost > 0 {
				t.Fatalf("%d of %d answers lost or changed", lost, 3*trials)
			}
			if waits && cancelled.Load() != 3*trials {
				t.Fatalf("%d of %d handlers saw their context cancelled (ErrClientGone, phase handler), want all", cancelled.Load(), 3*trials)
			}
		})
	}
}

// TestDepartedGetsNoInventedAnswer: a handler whose client left and that
// wrote nothing must not have fasthttp send its empty 200: the connection is
// closed without a byte, the request still logged (499) and reported. A
// handler that writes nothing for a client that stays still gets the 200.
func TestDepartedGetsNoInventedAnswer(t *testing.T) {
	logs := adaptertest.NewLogs()
	var abandoned atomic.Int32
	entered := make(chan struct{}, 1)
	s := quietServer(func(fctx *fasthttp.RequestCtx) {
		if string(fctx.Path()) == "/quick" {
			return
		}
		entered <- struct{}{}
		waitDone(fctx) // nobody to answer
	})
	fasthttphangup.Install(s,
		fasthttphangup.WithAccessLog(logs.Logger()),
		fasthttphangup.OnAbandon(func(r hangup.Report) {
			if r.Phase == hangup.PhaseHandler {
				abandoned.Add(1)
			}
		}))
	addr := serve(t, s)

	t.Run("left-while-running", func(t *testing.T) {
		c := adaptertest.Dial(t, addr)
		c.Send(adaptertest.GET)
		<-entered
		if err := c.CloseWrite(); err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(adaptertest.WaitLong))
		if b, err := io.ReadAll(c); err != nil || len(b) != 0 {
			t.Fatalf("the client read %q (%v), want nothing and the connection closed", b, err)
		}
		adaptertest.Want499(t, logs.Next(t), adaptertest.Path)
	})
	t.Run("left-at-once", func(t *testing.T) {
		for i := 0; i < trials; i++ {
			if got := halfCloseAndRead(t, addr, adaptertest.GET); got != "" {
				t.Fatalf("trial %d: the client read %q, want nothing", i, got)
			}
			<-entered
			adaptertest.Want499(t, logs.Next(t), adaptertest.Path)
		}
	})
	t.Run("did-not-leave", func(t *testing.T) {
		c := adaptertest.Dial(t, addr)
		c.Send("GET /quick HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
		c.SetReadDeadline(time.Now().Add(adaptertest.WaitLong))
		b, err := io.ReadAll(c)
		const want = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
		if err != nil || string(b) != want {
			t.Fatalf("got %q (%v), want %q", b, err, want)
		}
		logs.Next(t)
	})
	if n := abandoned.Load(); n != 1+trials {
		t.Errorf("OnAbandon called %d times in phase handler, want %d", n, 1+trials)
	}
}

// TestPipelinedThenHalfClose is issue 15's case 14: two pipelined requests
// and a half-close, all at once. The first request always runs and is
// answered; the second runs too (when the FIN came between them) or is not
// served, and then gets nothing: never a success reply for a handler that
// did not run.
func TestPipelinedThenHalfClose(t *testing.T) {
	ran := make(chan string, 2*trials)
	s := quietServer(func(fctx *fasthttp.RequestCtx) {
		ran <- string(fctx.Path())
		waitDone(fctx)
		fctx.SetBodyString("done " + string(fctx.Path()))
	})
	fasthttphangup.Install(s)
	addr := serve(t, s)
	for i := 0; i < trials; i++ {
		got := halfCloseAndRead(t, addr, adaptertest.Get("/1")+adaptertest.Get("/2"))
		checkPipelined(t, i, got, ran, "done ")
	}
}

// checkPipelined checks the responses a client read after two pipelined
// requests, /1 and /2: one or two, each with status 200 and body prefix
// plus the path of a handler that ran, in order.
func checkPipelined(t *testing.T, trial int, got string, ran chan string, prefix string) {
	t.Helper()
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
			t.Fatalf("trial %d: %v (read %q)", trial, err, got)
		}
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("trial %d: status %d (read %q)", trial, resp.StatusCode, got)
		}
		bodies = append(bodies, string(b))
	}
	if len(bodies) == 0 || len(bodies) > len(paths) {
		t.Fatalf("trial %d: answers %q for the handlers that ran, %v (read %q)", trial, bodies, paths, got)
	}
	for k, b := range bodies {
		if want := prefix + "/" + string(rune('1'+k)); b != want || paths[k] != want[len(prefix):] {
			t.Fatalf("trial %d: answer %d is %q, handlers that ran %v", trial, k+1, b, paths)
		}
	}
}

// TestSendNothingKeepHijackedConns: with Server.KeepHijackedConns, fasthttp
// leaves closing a hijacked connection to the hijacker; the connection of a
// departed request that gets no response must still be closed.
func TestSendNothingKeepHijackedConns(t *testing.T) {
	s := quietServer(func(fctx *fasthttp.RequestCtx) { waitDone(fctx) })
	s.KeepHijackedConns = true
	fasthttphangup.Install(s)
	if got := halfCloseAndRead(t, serve(t, s), adaptertest.GET); got != "" {
		t.Fatalf("the client read %q, want nothing", got)
	}
}
