package fasthttphangup_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/hangup-dev/hangup/fasthttphangup"
	"github.com/valyala/fasthttp"
)

// BenchmarkHello measures one hello-world request on a keep-alive loopback
// connection (a real socket: fasthttputil's in-memory listener cannot be
// watched), through plain fasthttp and through fasthttp with Install.
func BenchmarkHello(b *testing.B) {
	for _, install := range []bool{false, true} {
		name := "plain"
		if install {
			name = "hangup"
		}
		b.Run(name, func(b *testing.B) {
			s := &fasthttp.Server{
				Handler:               func(fctx *fasthttp.RequestCtx) { fctx.SetBodyString("Hello, World!") },
				MaxIdleWorkerDuration: 20 * time.Millisecond,
			}
			if install {
				fasthttphangup.Install(s)
			}
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- s.Serve(ln) }()
			defer func() {
				s.Shutdown()
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

// BenchmarkHandlerInProcess calls the handler directly, without sockets, so
// that the Guard's own per-request cost stands out of the network's noise:
// context, state, connection lookup, counters.
func BenchmarkHandlerInProcess(b *testing.B) {
	hello := func(fctx *fasthttp.RequestCtx) { fctx.SetBodyString("Hello, World!") }
	for _, install := range []bool{false, true} {
		name := "plain"
		h := hello
		if install {
			name = "hangup"
			g := fasthttphangup.New()
			g.Watch(&fasthttp.Server{})
			h = g.Handler(hello)
		}
		b.Run(name, func(b *testing.B) {
			var req fasthttp.Request
			req.SetRequestURI("/hello")
			var fctx fasthttp.RequestCtx
			fctx.Init(&req, nil, nil)
			b.ReportAllocs()
			for range b.N {
				h(&fctx)
				fctx.ResetUserValues() // as fasthttp does after each request
				fctx.Response.ResetBody()
			}
		})
	}
}
