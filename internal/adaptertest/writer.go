package adaptertest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hangup-dev/hangup"
)

// Ifaces is a set of the optional interfaces of an http.ResponseWriter, the
// ones middleware asserts to choose what it does.
type Ifaces uint8

// The optional interfaces.
const (
	Flusher Ifaces = 1 << iota
	Hijacker
	Pusher
	CloseNotifier
	ReaderFrom
	StringWriter
)

var ifaceNames = []string{"Flusher", "Hijacker", "Pusher", "CloseNotifier", "ReaderFrom", "StringWriter"}

// IfacesOf returns the optional interfaces that w implements.
func IfacesOf(w any) Ifaces {
	var s Ifaces
	if _, ok := w.(http.Flusher); ok {
		s |= Flusher
	}
	if _, ok := w.(http.Hijacker); ok {
		s |= Hijacker
	}
	if _, ok := w.(http.Pusher); ok {
		s |= Pusher
	}
	if _, ok := w.(http.CloseNotifier); ok {
		s |= CloseNotifier
	}
	if _, ok := w.(io.ReaderFrom); ok {
		s |= ReaderFrom
	}
	if _, ok := w.(io.StringWriter); ok {
		s |= StringWriter
	}
	return s
}

func (s Ifaces) String() string {
	var names []string
	for i, n := range ifaceNames {
		if s&(1<<i) != 0 {
			names = append(names, n)
		}
	}
	if names == nil {
		return "none"
	}
	return strings.Join(names, "|")
}

// Transport is one way a net/http server is reached on loopback.
type Transport struct {
	Name       string
	TLS, HTTP2 bool // HTTP2 without TLS is h2c
	// Want is the set of net/http's own ResponseWriter on this transport;
	// Serve fails the test if that ever changes.
	Want Ifaces
}

// Transports are HTTP/1 in clear, HTTP/2 over TLS and h2c (prior knowledge).
var Transports = []Transport{
	{Name: "HTTP1", Want: Flusher | Hijacker | CloseNotifier | ReaderFrom | StringWriter},
	{Name: "HTTP2-TLS", TLS: true, HTTP2: true, Want: Flusher | Pusher | CloseNotifier | StringWriter},
	{Name: "h2c", HTTP2: true, Want: Flusher | Pusher | CloseNotifier | StringWriter},
}

// ProtoMajor is the request's ProtoMajor on tr.
func (tr Transport) ProtoMajor() int {
	if tr.HTTP2 {
		return 2
	}
	return 1
}

type rawKey struct{}

// RawWriter returns the ResponseWriter that net/http handed to the server
// that Transport.Serve started, before hangup or any framework wrapped it.
func RawWriter(ctx context.Context) http.ResponseWriter {
	w, _ := ctx.Value(rawKey{}).(http.ResponseWriter)
	return w
}

// Reaches reports whether raw is w or is reached from w by Unwrap, as
// http.ResponseController reaches it.
func Reaches(w, raw http.ResponseWriter) bool {
	for range 16 {
		if w == raw {
			return true
		}
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return false
		}
		w = u.Unwrap()
	}
	return false
}

// Serve serves h over tr on loopback until the test ends, with hangup
// installed (with opts) if install; g is then its Guard, else nil. It
// returns the server's URL and a client that speaks tr. In front of
// everything, it checks that net/http's own writer has tr.Want and puts it
// where RawWriter finds it.
func (tr Transport) Serve(t testing.TB, h http.Handler, install bool, opts ...hangup.Option) (url string, client *http.Client, g *hangup.Guard) {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	if tr.HTTP2 && !tr.TLS {
		srv.Config.Protocols = new(http.Protocols)
		srv.Config.Protocols.SetHTTP1(true)
		srv.Config.Protocols.SetUnencryptedHTTP2(true)
	}
	srv.EnableHTTP2 = tr.HTTP2 && tr.TLS
	if install {
		g = hangup.Install(srv.Config, opts...)
	}
	inner := srv.Config.Handler
	srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if got := IfacesOf(w); got != tr.Want {
			t.Errorf("net/http's own writer over %s has %v, want %v: the suite's expectations are out of date", tr.Name, got, tr.Want)
		}
		inner.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), rawKey{}, w)))
	})
	if tr.TLS {
		srv.StartTLS()
	} else {
		srv.Start()
	}
	client = srv.Client()
	if tr.HTTP2 && !tr.TLS {
		p := new(http.Protocols)
		p.SetUnencryptedHTTP2(true)
		client = &http.Client{Transport: &http.Transport{Protocols: p}}
	}
	t.Cleanup(func() {
		srv.Close()
		client.CloseIdleConnections()
	})
	return srv.URL, client, g
}

// Stream is a client reading a streamed response line by line.
type Stream struct {
	t      testing.TB
	Res    *http.Response
	br     *bufio.Reader
	cancel context.CancelFunc
}

// OpenStream GETs url with client and fails the test unless the answer is
// 200. The request is cancelled when the test ends, if Leave did not.
func OpenStream(t testing.TB, client *http.Client, url string) *Stream {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*WaitLong)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	res, err := client.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	s := &Stream{t: t, Res: res, br: bufio.NewReader(res.Body), cancel: cancel}
	t.Cleanup(s.Leave)
	if res.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(res.Body, 1024))
		t.Fatalf("status %d (%q), want 200", res.StatusCode, body)
	}
	return s
}

// Line reads the next line of the body, without its newline.
func (s *Stream) Line() string {
	s.t.Helper()
	line, err := s.br.ReadString('\n')
	if err != nil {
		s.t.Fatalf("reading the stream: %v (after %q)", err, line)
	}
	return strings.TrimSuffix(line, "\n")
}

// Rest reads the body to its end.
func (s *Stream) Rest() string {
	s.t.Helper()
	b, err := io.ReadAll(s.br)
	if err != nil {
		s.t.Fatalf("reading the stream: %v", err)
	}
	return string(b)
}

// Leave is the client going away mid-stream: it cancels the request (HTTP/1:
// the connection closes; HTTP/2: the stream is reset).
func (s *Stream) Leave() {
	s.cancel()
	s.Res.Body.Close()
}

// WantLines reads len(want) lines and fails the test unless they are want.
func (s *Stream) WantLines(want ...string) {
	s.t.Helper()
	for _, w := range want {
		if got := s.Line(); got != w {
			s.t.Fatalf("line %q, want %q", got, w)
		}
	}
}

// Await receives from ch, for at most WaitLong; what names the wait in the
// failure message.
func Await[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(WaitLong):
		t.Fatalf("never: %s", what)
		panic("unreachable")
	}
}

// Events is the body of a stream of n events, one line each: "event 0\n"…
func Events(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "event %d\n", i)
	}
	return b.String()
}
