package echohangup_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/hangup-dev/hangup/echohangup"
	"github.com/labstack/echo/v4"
)

// BenchmarkHello measures one hello-world request on a keep-alive loopback
// connection, through plain Echo and through Echo with echohangup.Install.
func BenchmarkHello(b *testing.B) {
	for _, install := range []bool{false, true} {
		name := "plain"
		if install {
			name = "hangup"
		}
		b.Run(name, func(b *testing.B) {
			e := echo.New()
			e.HideBanner, e.HidePort = true, true
			if install {
				echohangup.Install(e)
			}
			e.GET("/hello", func(c echo.Context) error { return c.String(http.StatusOK, "Hello, World!") })
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			e.Listener = ln
			done := make(chan error, 1)
			go func() { done <- e.Start("") }()
			defer func() {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				e.Shutdown(ctx)
				<-done
			}()
			pingPong(b, ln.Addr().String())
		})
	}
}

// hello is the request every benchmark sends, on one keep-alive connection.
const hello = "GET /hello HTTP/1.1\r\nHost: bench\r\n\r\n"

// pingPong sends hello b.N times on one connection to addr, each time
// reading the whole response: the latency of one request, client included.
// The client allocates nothing, so allocs/op are the server's.
func pingPong(b *testing.B, addr string) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReaderSize(c, 4096)
	req := []byte(hello)
	roundTrip := func() {
		if _, err := c.Write(req); err != nil {
			b.Fatal(err)
		}
		if err := readHello(br); err != nil {
			b.Fatal(err)
		}
	}
	roundTrip() // warm up: the connection is accepted and watched
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		roundTrip()
	}
	b.StopTimer()
}

// readHello reads one response with a Content-Length, without allocating.
func readHello(br *bufio.Reader) error {
	status := true
	n := -1
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return err
		}
		if status {
			if !bytes.HasPrefix(line, []byte("HTTP/1.1 200 ")) {
				return fmt.Errorf("response %q", line)
			}
			status = false
			continue
		}
		if len(line) <= 2 {
			break
		}
		if k, v, ok := bytes.Cut(line, []byte(":")); ok && bytes.EqualFold(k, []byte("Content-Length")) {
			n = 0
			for _, d := range bytes.TrimSpace(v) {
				n = n*10 + int(d-'0')
			}
		}
	}
	if n < 0 {
		return errors.New("response without Content-Length")
	}
	_, err := br.Discard(n)
	return err
}

// BenchmarkHandlerInProcess: plain Echo, and Echo with echohangup.Install.
func BenchmarkHandlerInProcess(b *testing.B) {
	for _, install := range []bool{false, true} {
		name := "plain"
		if install {
			name = "hangup"
		}
		b.Run(name, func(b *testing.B) {
			e := echo.New()
			if install {
				echohangup.Install(e)
			}
			e.GET("/hello", func(c echo.Context) error { return c.String(http.StatusOK, "Hello, World!") })
			inProcess(b, e.Server)
		})
	}
}

// inProcess calls srv.Handler directly b.N times, without sockets, so that
// the adapter's own per-request cost stands out of the network's noise. When
// hangup is installed, the request carries the context that hangup's
// ConnContext gives a real loopback connection, so it takes the same path
// (a watched connection) as on a live server.
func inProcess(b *testing.B, srv *http.Server) {
	ctx := context.Background()
	if srv.ConnContext != nil {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		defer ln.Close()
		client, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		defer client.Close()
		nc, err := ln.Accept()
		if err != nil {
			b.Fatal(err)
		}
		defer nc.Close()
		ctx = srv.ConnContext(ctx, nc)
		defer srv.ConnState(nc, http.StateClosed)
	}
	req := httptest.NewRequest(http.MethodGet, "/hello", nil).WithContext(ctx)
	w := &discard{h: http.Header{}}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		clear(w.h)
		srv.Handler.ServeHTTP(w, req)
	}
}

// discard is a ResponseWriter that drops the response and allocates nothing.
type discard struct{ h http.Header }

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(p []byte) (int, error) { return len(p), nil }
func (d *discard) WriteHeader(int)             {}
