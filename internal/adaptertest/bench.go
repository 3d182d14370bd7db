package adaptertest

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
)

// HelloPath and HelloBody are the route and the response of the benchmarks'
// hello-world handler.
const (
	HelloPath = "/hello"
	HelloBody = "Hello, World!"
)

// hello is the request every benchmark sends, on one keep-alive connection.
const hello = "GET " + HelloPath + " HTTP/1.1\r\nHost: bench\r\n\r\n"

// Compare runs bench twice, as the sub-benchmarks "plain", the bare
// framework (install false), and "hangup", with the adapter installed.
func Compare(b *testing.B, bench func(b *testing.B, install bool)) {
	for _, install := range []bool{false, true} {
		name := "plain"
		if install {
			name = "hangup"
		}
		b.Run(name, func(b *testing.B) { bench(b, install) })
	}
}

// BenchHello is the body of an adapter's BenchmarkHello: for "plain" and
// "hangup" (see Compare), start serves the hello-world route (HelloPath,
// answering HelloBody) on loopback until the benchmark ends, with the
// adapter installed if install, and BenchHello measures one request on a
// keep-alive connection to it.
func BenchHello(b *testing.B, start func(b *testing.B, install bool) (addr string)) {
	Compare(b, func(b *testing.B, install bool) { pingPong(b, start(b, install)) })
}

// BenchHelloHTTP is BenchHello for a framework that is an http.Handler, h,
// served by net/http, with hangup.Install for "hangup".
func BenchHelloHTTP(b *testing.B, h http.Handler) {
	BenchHello(b, func(b *testing.B, install bool) string {
		addr, _ := ServeHTTP(b, h, install)
		return addr
	})
}

// BenchInProcess is the body of a net/http adapter's
// BenchmarkHandlerInProcess: for "plain" and "hangup" (see Compare), server
// returns a server whose Handler serves the hello-world route, with the
// adapter installed if install, and BenchInProcess calls that handler
// without sockets (see inProcess).
func BenchInProcess(b *testing.B, server func(install bool) *http.Server) {
	Compare(b, func(b *testing.B, install bool) { inProcess(b, server(install)) })
}

// BenchInProcessHTTP is BenchInProcess for a framework that is an
// http.Handler, h, with hangup.Install for "hangup".
func BenchInProcessHTTP(b *testing.B, h http.Handler) {
	BenchInProcess(b, func(install bool) *http.Server {
		srv, _ := NewHTTPServer(h, install)
		return srv
	})
}

// pingPong sends a GET for HelloPath b.N times on one keep-alive connection
// to addr, each time reading the whole response: the latency of one request,
// client included. The client allocates nothing, so allocs/op are the
// server's.
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

// inProcess calls srv.Handler directly b.N times with a GET for HelloPath,
// without sockets, so that the adapter's own per-request cost stands out of
// the network's noise. When hangup is installed, the request carries the
// context that hangup's ConnContext gives a real loopback connection, so it
// takes the same path (a watched connection) as on a live server.
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
	req := httptest.NewRequest(http.MethodGet, HelloPath, nil).WithContext(ctx)
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
