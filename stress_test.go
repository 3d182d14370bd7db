package hangup_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hangup-dev/hangup"
)

// TestManyConnectionsLeaveNothingBehind opens and drops 5,000 connections
// (FIN, RST, half-close and completed requests, mixed) and checks that no
// file descriptor, goroutine or tracked connection is left. goleak in
// TestMain checks the goroutines once more at the end.
func TestManyConnectionsLeaveNothingBehind(t *testing.T) {
	const total = 5000
	fdsBefore := openFDs(t)
	goroutinesBefore := runtime.NumGoroutine()

	var s *server
	s = startServer(t, serverOpts{handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/fast" {
			io.WriteString(w, "ok")
			return
		}
		select {
		case <-r.Context().Done():
		case <-time.After(waitLong):
			t.Errorf("request %s never cancelled", r.URL.Path)
		}
	})})
	addr := s.addr()

	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	errs := make(chan error, total)
	for i := 0; i < total; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			if err := oneConnection(addr, i%4); err != nil {
				errs <- err
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	// Every handler returns once its context is cancelled; then the server
	// closes its side and the Guard forgets the connection.
	deadline := time.Now().Add(2 * waitLong)
	for {
		st := s.g.Stats()
		if st.Conns == 0 && st.InFlight == 0 {
			if got := st.GoneTotal(); got != total*3/4 {
				t.Errorf("%d requests reported gone, want %d", got, total*3/4)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still tracked after all clients left: %+v", st)
		}
		time.Sleep(10 * time.Millisecond)
	}
	s.srv.Close()
	waitFor(t, func() bool { return runtime.NumGoroutine() <= goroutinesBefore+2 }, "goroutines back to the start")
	waitFor(t, func() bool { return openFDs(t) <= fdsBefore }, fmt.Sprintf("open descriptors back to %d", fdsBefore))
}

// oneConnection runs one client: 0 FIN, 1 RST, 2 half-close, 3 a completed
// request.
func oneConnection(addr string, kind int) error {
	c, err := net.DialTimeout("tcp", addr, waitLong)
	if err != nil {
		return err
	}
	tc := c.(*net.TCPConn)
	defer tc.Close()
	path := "/slow"
	if kind == 3 {
		path = "/fast"
	}
	if _, err := io.WriteString(tc, "GET "+path+" HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		return err
	}
	switch kind {
	case 0:
		time.Sleep(time.Millisecond)
		return tc.Close()
	case 1:
		time.Sleep(time.Millisecond)
		tc.SetLinger(0)
		return tc.Close()
	case 2:
		time.Sleep(time.Millisecond)
		tc.CloseWrite()
		_, err := io.Copy(io.Discard, tc) // the server closes without an answer
		return ignoreReset(err)
	default:
		tc.SetDeadline(time.Now().Add(waitLong))
		resp, err := http.ReadResponse(bufio.NewReader(tc), nil)
		if err != nil {
			return err
		}
		b, _ := io.ReadAll(resp.Body)
		if string(b) != "ok" {
			return fmt.Errorf("fast request answered %q", b)
		}
		return nil
	}
}

func ignoreReset(err error) error {
	if err != nil && strings.Contains(err.Error(), "reset") {
		return nil
	}
	return err
}

func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd here")
	}
	return len(ents)
}

func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(2 * waitLong)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

var _ = hangup.ErrClientGone
