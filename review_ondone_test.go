package hangup_test

import (
	"bufio"
	"context"
	"io"
	"log"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hangup-dev/hangup"
)

// TestReviewOnDoneOnce: OnDone is called exactly once per request, with a
// cancelled Context, for a handler that panics, hijacks, or whose h2c
// client resets the stream.
func TestReviewOnDoneOnce(t *testing.T) {
	var mu sync.Mutex
	calls := map[string]int{}
	ctxDone := map[string]bool{}
	var total atomic.Int64
	entered := make(chan struct{}, 4)
	s := startServer(t, serverOpts{
		h2c:    true,
		config: func(s *http.Server) { s.ErrorLog = log.New(io.Discard, "", 0) },
		opts: []hangup.Option{hangup.OnDone(func(r hangup.Report) {
			mu.Lock()
			calls[r.Path]++
			ctxDone[r.Path] = r.Context != nil && r.Context.Err() != nil
			mu.Unlock()
			total.Add(1)
		})},
		handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch r.URL.Path {
			case "/panic":
				panic("boom")
			case "/abort":
				panic(http.ErrAbortHandler)
			case "/hijack":
				c, bw, err := w.(http.Hijacker).Hijack()
				if err == nil {
					bw.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi")
					bw.Flush()
					c.Close()
				}
			case "/h2wait":
				entered <- struct{}{}
				<-r.Context().Done()
			}
		}),
	})
	for _, p := range []string{"/panic", "/abort", "/hijack"} {
		c := dialTCP(t, s.addr())
		write(t, c, "GET "+p+" HTTP/1.1\r\nHost: x\r\n\r\n")
		bufio.NewReader(c).ReadString('\n')
		c.Close()
	}
	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	defer tr.CloseIdleConnections()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+s.addr()+"/h2wait", nil)
	errc := make(chan error, 1)
	go func() {
		res, err := tr.RoundTrip(req)
		if err == nil {
			res.Body.Close()
		}
		errc <- err
	}()
	<-entered
	cancel()
	<-errc
	deadline := time.After(waitLong)
	for total.Load() < 4 {
		select {
		case <-deadline:
			t.Fatalf("OnDone calls: %v", calls)
		case <-time.After(time.Millisecond):
		}
	}
	time.Sleep(50 * time.Millisecond) // a second call would come now
	mu.Lock()
	defer mu.Unlock()
	for _, p := range []string{"/panic", "/abort", "/hijack", "/h2wait"} {
		if calls[p] != 1 || !ctxDone[p] {
			t.Errorf("%s: OnDone called %d times, context done %v", p, calls[p], ctxDone[p])
		}
	}
}
