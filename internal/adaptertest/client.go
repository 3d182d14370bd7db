package adaptertest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"

	"github.com/hangup-dev/hangup"
)

// Get returns a complete GET request for path.
func Get(path string) string {
	return "GET " + path + " HTTP/1.1\r\nHost: test\r\n\r\n"
}

// Post returns a POST request for path whose header promises length bytes
// of body and which sends body: with length > len(body), an upload cut
// short.
func Post(path string, length int, body string) string {
	return fmt.Sprintf("POST %s HTTP/1.1\r\nHost: test\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s",
		path, length, body)
}

// Serve serves on a new loopback listener until the test or benchmark ends:
// it runs serve(ln) in a goroutine and, at cleanup, calls shutdown (with
// WaitLong to finish) and waits for serve to return. It returns the
// listener's address. serve is the framework's own way to serve on a
// listener, such as (*http.Server).Serve or (*fasthttp.Server).Serve.
func Serve(t testing.TB, serve func(net.Listener) error, shutdown func(context.Context) error) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), WaitLong)
		defer cancel()
		if err := shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		<-done
	})
	return ln.Addr().String()
}

// NewHTTPServer returns a server for h, with hangup installed (with opts) if
// install; g is then its Guard, else nil.
func NewHTTPServer(h http.Handler, install bool, opts ...hangup.Option) (srv *http.Server, g *hangup.Guard) {
	srv = &http.Server{Handler: h}
	if install {
		g = hangup.Install(srv, opts...)
	}
	return srv, g
}

// ServeHTTP serves h with net/http until the test or benchmark ends, with
// hangup installed (with opts) if install; g is then its Guard, else nil.
func ServeHTTP(t testing.TB, h http.Handler, install bool, opts ...hangup.Option) (addr string, g *hangup.Guard) {
	t.Helper()
	srv, g := NewHTTPServer(h, install, opts...)
	return Serve(t, srv.Serve, srv.Shutdown), g
}

// Exit is how a client leaves: FIN or RST.
type Exit bool

const (
	// FIN closes the connection in order.
	FIN Exit = false
	// RST resets the connection (SO_LINGER 0).
	RST Exit = true
)

// Conn is a raw TCP client connection. Its methods fail the test that
// dialled it; call them from the test's goroutine.
type Conn struct {
	*net.TCPConn
	t  testing.TB
	br *bufio.Reader
}

// Dial connects to addr; the connection is closed when the test ends, if it
// is still open.
func Dial(t testing.TB, addr string) *Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	tc := c.(*net.TCPConn)
	return &Conn{TCPConn: tc, t: t, br: bufio.NewReader(tc)}
}

// Send writes req, a raw request such as GET or Post(...).
func (c *Conn) Send(req string) {
	c.t.Helper()
	if _, err := io.WriteString(c, req); err != nil {
		c.t.Fatal(err)
	}
}

// Leave makes the client go away, with a FIN or an RST.
func (c *Conn) Leave(how Exit) {
	c.t.Helper()
	if how == RST {
		if err := c.SetLinger(0); err != nil {
			c.t.Fatal(err)
		}
	}
	if err := c.Close(); err != nil {
		c.t.Fatal(err)
	}
}

// ReadResponse reads the next response on c, body included.
func (c *Conn) ReadResponse() *http.Response {
	c.t.Helper()
	res, err := http.ReadResponse(c.br, nil)
	if err != nil {
		c.t.Fatal(err)
	}
	if _, err := io.ReadAll(res.Body); err != nil {
		c.t.Fatal(err)
	}
	res.Body.Close()
	return res
}

// Abandon sends req on a new connection to addr, waits until rec's handler
// runs, leaves as how says, and returns what the handler saw.
func Abandon(t testing.TB, addr, req string, how Exit, rec *Recorder) Outcome {
	t.Helper()
	c := Dial(t, addr)
	c.Send(req)
	rec.WaitEntered(t)
	c.Leave(how)
	return rec.Result(t)
}
