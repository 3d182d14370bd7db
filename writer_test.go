package hangup_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hangup-dev/hangup"
	"github.com/hangup-dev/hangup/internal/adaptertest"
)

// wrapModes are the two ways hangup wraps a ResponseWriter: Install, and
// Guard.Handler as plain middleware.
var wrapModes = []struct {
	name    string
	install bool
}{
	{"Install", true},
	{"Handler", false},
}

// serveWrapped serves h over tr, through Install or, if !install, through
// hangup.New().Handler as plain middleware.
func serveWrapped(t *testing.T, tr adaptertest.Transport, install bool, h http.Handler) (string, *http.Client) {
	t.Helper()
	if !install {
		h = hangup.New().Handler(h)
	}
	url, client, _ := tr.Serve(t, h, install)
	return url, client
}

// TestWriterInterfaces: the writer a handler gets has exactly the optional
// interfaces of net/http's own (Pusher on HTTP/2, CloseNotifier everywhere,
// ReaderFrom and Hijacker only on HTTP/1), and Unwrap reaches net/http's,
// for http.ResponseController.
func TestWriterInterfaces(t *testing.T) {
	for _, tr := range adaptertest.Transports {
		for _, mode := range wrapModes {
			t.Run(tr.Name+"/"+mode.name, func(t *testing.T) {
				type seen struct {
					set     adaptertest.Ifaces
					reaches bool
				}
				got := make(chan seen, 1)
				url, client := serveWrapped(t, tr, mode.install, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					got <- seen{adaptertest.IfacesOf(w), adaptertest.Reaches(w, adaptertest.RawWriter(r.Context()))}
				}))
				res, err := client.Get(url)
				if err != nil {
					t.Fatal(err)
				}
				res.Body.Close()
				s := adaptertest.Await(t, got, "handler ran")
				if s.set != tr.Want {
					t.Errorf("the handler's writer has %v, net/http's has %v", s.set, tr.Want)
				}
				if !s.reaches {
					t.Error("Unwrap does not reach net/http's writer")
				}
			})
		}
	}
}

// TestWriterInterfacesWork: each optional interface of the wrapper does what
// the original's does, and hangup still counts and logs the response.
func TestWriterInterfacesWork(t *testing.T) {
	for _, tr := range adaptertest.Transports {
		t.Run(tr.Name, func(t *testing.T) {
			logs := adaptertest.NewLogs()
			pushErr := make(chan error, 1)
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if p, ok := w.(http.Pusher); ok {
					// Go's client refuses pushes: net/http says so.
					pushErr <- p.Push("/style.css", nil)
				} else {
					pushErr <- errNoPusher
				}
				io.WriteString(w, "string,")
				if rf, ok := w.(io.ReaderFrom); ok {
					rf.ReadFrom(strings.NewReader("readfrom,"))
				} else {
					io.Copy(w, strings.NewReader("copy,"))
				}
				if err := http.NewResponseController(w).Flush(); err != nil {
					t.Errorf("Flush: %v", err)
				}
				w.Write([]byte("end"))
			})
			url, client, _ := tr.Serve(t, h, true, hangup.WithAccessLog(logs.Logger()))
			res, err := client.Get(url)
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(res.Body)
			res.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			want, wantPush := "string,readfrom,end", errNoPusher
			if tr.HTTP2 {
				want, wantPush = "string,copy,end", http.ErrNotSupported
			}
			if err := adaptertest.Await(t, pushErr, "handler ran"); err != wantPush {
				t.Errorf("Push: %v, want %v", err, wantPush)
			}
			if string(body) != want {
				t.Errorf("body %q, want %q", body, want)
			}
			line := logs.Next(t)
			if line["status"] != int64(200) || line["bytes_out"] != int64(len(want)) {
				t.Errorf("access log %v, want status 200, bytes_out %d", line, len(want))
			}
		})
	}
}

var errNoPusher = errors.New("not an http.Pusher")

// TestCloseNotify: the wrapper's CloseNotify fires when the client leaves,
// with the request's context cancelled with cause ErrClientGone, on every
// transport and in both modes; and also where net/http's own never does, a
// client that leaves while its request body is unread (golang/go#23262).
func TestCloseNotify(t *testing.T) {
	type result struct {
		fired, same bool
		cause       error
	}
	handler := func(entered chan<- struct{}, results chan<- result) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			cn, ok := w.(http.CloseNotifier)
			entered <- struct{}{}
			if !ok {
				results <- result{}
				return
			}
			ch := cn.CloseNotify()
			if r.Method == http.MethodGet {
				// A write would make net/http read the rest of a body first.
				io.WriteString(w, "ready\n")
				w.(http.Flusher).Flush()
			}
			res := result{same: cn.CloseNotify() == ch}
			select {
			case res.fired = <-ch:
			case <-time.After(waitLong):
			}
			res.cause = context.Cause(r.Context())
			results <- res
		}
	}
	check := func(t *testing.T, res result) {
		t.Helper()
		if !res.fired || !res.same {
			t.Errorf("CloseNotify fired %v, same channel on each call %v; want both", res.fired, res.same)
		}
		if !errors.Is(res.cause, hangup.ErrClientGone) {
			t.Errorf("cause %v, want ErrClientGone", res.cause)
		}
	}
	for _, tr := range adaptertest.Transports {
		for _, mode := range wrapModes {
			t.Run(tr.Name+"/"+mode.name, func(t *testing.T) {
				results := make(chan result, 1)
				url, client := serveWrapped(t, tr, mode.install, handler(make(chan struct{}, 1), results))
				s := adaptertest.OpenStream(t, client, url)
				if l := s.Line(); l != "ready" {
					t.Fatalf("first line %q", l)
				}
				s.Leave()
				check(t, adaptertest.Await(t, results, "handler done"))
			})
		}
	}
	t.Run("HTTP1/body unread", func(t *testing.T) {
		entered, results := make(chan struct{}, 1), make(chan result, 1)
		url, _, _ := adaptertest.Transports[0].Serve(t, handler(entered, results), true)
		c := adaptertest.Dial(t, strings.TrimPrefix(url, "http://"))
		c.Send(adaptertest.PostCutShort)
		adaptertest.Await(t, entered, "handler entered")
		c.Leave(adaptertest.FIN)
		check(t, adaptertest.Await(t, results, "handler done"))
	})
}

// TestCloseNotifyServerClose: CloseNotify also fires when the server closes
// the connection under the request (Server.Close), so that a loop waiting
// on it alone, as Gin's c.Stream does, ends as it does without hangup.
func TestCloseNotifyServerClose(t *testing.T) {
	fired := make(chan bool, 1)
	in := make(chan struct{})
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cn, ok := w.(http.CloseNotifier)
		close(in)
		if !ok {
			fired <- false
			return
		}
		ch := cn.CloseNotify()
		select {
		case <-ch:
			fired <- true
		case <-time.After(waitLong):
			fired <- false
		}
	})}
	hangup.Install(srv)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { srv.Serve(ln); close(done) }()
	c := dialTCP(t, ln.Addr().String())
	write(t, c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	adaptertest.Await(t, in, "handler entered")
	srv.Close()
	if !adaptertest.Await(t, fired, "handler done") {
		t.Error("CloseNotify did not fire after Server.Close")
	}
	<-done
}
