package hangup_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hangup-dev/hangup"
)

// halfCloseTrials is how many connections each race test opens: the FIN
// races net/http's reading of the request, so one trial proves little.
const halfCloseTrials = 100

// sendAndHalfClose opens a connection, sends req, shuts down its writing
// side at once (nc -N, socat, HTTP/1.0 clients) and returns every byte the
// server sends until it closes.
func sendAndHalfClose(t *testing.T, addr, req string) []byte {
	t.Helper()
	c := dialTCP(t, addr)
	write(t, c, req)
	halfClose(t, c)
	c.SetReadDeadline(time.Now().Add(waitLong))
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("reading until the server closes: %v (got %q)", err, b)
	}
	c.Close()
	return b
}

// answer writes body with fixed headers, so that the test knows every byte
// of the response.
func answer(w http.ResponseWriter, body string) {
	w.Header()["Date"] = nil
	w.Header().Set("Content-Type", "text/plain")
	w.Header().Set("Content-Length", fmt.Sprint(len(body)))
	io.WriteString(w, body)
}

// wantResponse is the exact response answer(w, body) gives to a request in
// proto.
func wantResponse(proto, body string) string {
	return proto + " 200 OK\r\nContent-Length: " + fmt.Sprint(len(body)) +
		"\r\nContent-Type: text/plain\r\n\r\n" + body
}

// TestHalfClosedClientIsAnswered is issue 15's case 11: a client sends its
// request and half-closes at once, and the handler answers whatever its
// context says. net/http alone delivers every answer; so must hangup, under
// its default policy too, where the half-close still counts as gone. The
// FIN may reach the watcher before net/http hands the request to hangup:
// that request must still run (it used to be dropped as before_handler).
func TestHalfClosedClientIsAnswered(t *testing.T) {
	handlers := []struct {
		name string
		// waits: the handler answers only once its context is done, so
		// that the test also checks that it was cancelled, and why.
		waits bool
	}{
		{"answers-at-once", false},
		{"answers-after-cancel", true},
	}
	for _, proto := range []string{"HTTP/1.0", "HTTP/1.1"} {
		for _, hc := range handlers {
			t.Run(proto+"/"+hc.name, func(t *testing.T) {
				var s *server
				s = startServer(t, serverOpts{handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if hc.waits {
						s.report(r.Context())
					}
					answer(w, "answer")
				})})
				req := "GET / " + proto + "\r\nHost: x\r\n\r\n"
				want := wantResponse(proto, "answer")
				lost := 0
				for i := 0; i < halfCloseTrials; i++ {
					got := string(sendAndHalfClose(t, s.addr(), req))
					if got != want {
						lost++
						if lost <= 3 {
							t.Errorf("trial %d: got %q, want %q", i, got, want)
						}
					}
					if !hc.waits {
						continue
					}
					// The handler reports before it answers: an answer
					// means a report is waiting; a lost one may have none.
					select {
					case o := <-s.results:
						expectGone(t, o, hangup.PhaseHandler)
						if o.departure.Reason != hangup.ReasonClosed {
							t.Fatalf("reason %v, want closed", o.departure.Reason)
						}
					default:
						if got == want {
							t.Fatal("answered, yet the handler reported nothing")
						}
					}
				}
				if lost > 0 {
					t.Fatalf("%d of %d answers lost", lost, halfCloseTrials)
				}
			})
		}
	}
}

// TestDepartedGetsNoInventedAnswer is issue 15's case 12: a handler that
// returns without writing anything because its client left must not have
// net/http invent an empty 200 for it. The connection is closed without a
// byte; the request is still logged (499) and reported to OnAbandon. A
// handler that writes nothing for a client that did not leave still gets
// net/http's implicit 200.
func TestDepartedGetsNoInventedAnswer(t *testing.T) {
	var buf syncBuffer
	var abandoned atomic.Int32
	var s *server
	s = startServer(t, serverOpts{
		opts: []hangup.Option{
			hangup.WithAccessLog(slog.New(slog.NewJSONHandler(&buf, nil))),
			hangup.OnAbandon(func(r hangup.Report) {
				if r.Phase == hangup.PhaseHandler {
					abandoned.Add(1)
				}
			}),
		},
		handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header()["Date"] = nil
			if r.URL.Path == "/quick" {
				return // nothing written, nobody left
			}
			s.entered <- r
			s.report(r.Context()) // waits for the client to leave; writes nothing
		})})

	t.Run("left-while-running", func(t *testing.T) {
		c := dialTCP(t, s.addr())
		write(t, c, reqGET)
		s.waitEntered()
		halfClose(t, c)
		expectGone(t, s.waitResult(), hangup.PhaseHandler)
		c.SetReadDeadline(time.Now().Add(waitLong))
		if b, err := io.ReadAll(c); err != nil || len(b) != 0 {
			t.Fatalf("the client read %q (%v), want nothing and the connection closed", b, err)
		}
	})
	t.Run("left-at-once", func(t *testing.T) {
		// The FIN comes with the request: the handler runs with its
		// context already cancelled, or sooner or later it is cancelled;
		// either way it writes nothing and so the client gets nothing.
		for i := 0; i < halfCloseTrials; i++ {
			if b := sendAndHalfClose(t, s.addr(), "GET / HTTP/1.0\r\n\r\n"); len(b) != 0 {
				t.Fatalf("trial %d: the client read %q, want nothing", i, b)
			}
			s.waitEntered()
			expectGone(t, s.waitResult(), hangup.PhaseHandler)
		}
	})
	t.Run("did-not-leave", func(t *testing.T) {
		c := dialTCP(t, s.addr())
		write(t, c, "GET /quick HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		c.SetReadDeadline(time.Now().Add(waitLong))
		b, err := io.ReadAll(c)
		const want = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
		if err != nil || string(b) != want {
			t.Fatalf("got %q (%v), want net/http's implicit %q", b, err, want)
		}
	})

	s.srv.Close() // the log lines are written after the handlers return
	if n := abandoned.Load(); n != 1+halfCloseTrials {
		t.Errorf("OnAbandon called %d times in phase handler, want %d", n, 1+halfCloseTrials)
	}
	statuses := map[string][]float64{}
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("bad log line %q: %v", l, err)
		}
		statuses[m["path"].(string)] = append(statuses[m["path"].(string)], m["status"].(float64))
	}
	for _, st := range statuses["/"] {
		if st != hangup.StatusClientClosedRequest {
			t.Fatalf("logged status %v for a departed request, want 499", st)
		}
	}
	if len(statuses["/"]) != 1+halfCloseTrials || len(statuses["/quick"]) != 1 || statuses["/quick"][0] != 200 {
		t.Errorf("logged statuses %v, want %d times 499 for / and 200 for /quick", statuses, 1+halfCloseTrials)
	}
}

// TestPipelinedThenHalfClose: a client sends two requests and half-closes
// at once. The first always runs and its answer is heard; the second either
// runs too (the FIN was seen between the two) or is skipped, and then gets
// nothing: no response ever comes for a handler that did not run.
func TestPipelinedThenHalfClose(t *testing.T) {
	ran := make(chan string, 2*halfCloseTrials)
	s := startServer(t, serverOpts{handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ran <- r.URL.Path
		<-r.Context().Done() // the half-close counts as gone
		answer(w, "answer "+r.URL.Path)
	})})
	req := func(p string) string { return "GET " + p + " HTTP/1.1\r\nHost: x\r\n\r\n" }
	for i := 0; i < halfCloseTrials; i++ {
		got := sendAndHalfClose(t, s.addr(), req("/1")+req("/2"))
		var paths []string
	drain:
		for {
			select {
			case p := <-ran:
				paths = append(paths, p)
			default:
				break drain
			}
		}
		var answers []string
		br := bufio.NewReader(bytes.NewReader(got))
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
			answers = append(answers, string(b))
		}
		if len(answers) == 0 || len(answers) > len(paths) {
			t.Fatalf("trial %d: answers %q for handlers run %v", i, answers, paths)
		}
		for k, a := range answers {
			if want := "answer " + paths[k]; a != want || paths[k] != fmt.Sprint("/", k+1) {
				t.Fatalf("trial %d: answer %d is %q, handlers run %v", i, k+1, a, paths)
			}
		}
	}
}

// TestMiddlewareOnlyNoInventedAnswer: Guard.Handler without Install hears
// the half-close through net/http, and the same rule holds: a departed
// request whose handler wrote nothing gets no response.
func TestMiddlewareOnlyNoInventedAnswer(t *testing.T) {
	entered := make(chan struct{}, 1)
	srv := httptest.NewServer(hangup.New().Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		select {
		case <-r.Context().Done():
		case <-time.After(waitLong):
		}
	})))
	defer srv.Close()
	c := dialTCP(t, srv.Listener.Addr().String())
	write(t, c, reqGET)
	select {
	case <-entered:
	case <-time.After(waitLong):
		t.Fatal("handler never ran")
	}
	halfClose(t, c)
	c.SetReadDeadline(time.Now().Add(waitLong))
	if b, err := io.ReadAll(c); err != nil || len(b) != 0 {
		t.Fatalf("the client read %q (%v), want nothing and the connection closed", b, err)
	}
}
