package hangup

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// TestHalfCloseWaitsRearm: under HalfCloseWaits the watcher's one-shot
// registration fires on the FIN and is tolerated; it must then be re-armed,
// or an RST that comes later (the client did close fully, as the server's
// next write shows) is never seen. The test waits until the kernel shows the
// registration fired on the FIN alone, before it sends the RST: sent
// together, FIN and RST come as one event, which needs no re-arm.
func TestHalfCloseWaitsRearm(t *testing.T) {
	const waitLong = 10 * time.Second
	entered := make(chan struct{}, 1)
	causes := make(chan error, 1)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		select {
		case <-r.Context().Done():
		case <-time.After(waitLong):
		}
		causes <- context.Cause(r.Context())
	}))
	g := Install(srv.Config, HalfCloseWaits())
	srv.Start()
	defer srv.Close()

	nc, err := net.DialTimeout("tcp", srv.Listener.Addr().String(), waitLong)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	c := nc.(*net.TCPConn)
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-entered:
	case <-time.After(waitLong):
		t.Fatal("handler never ran")
	}
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	waitFired(t, g, waitLong)
	select {
	case err := <-causes:
		t.Fatalf("the tolerated half-close ended the request (%v)", err)
	default:
	}
	c.SetLinger(0)
	c.Close()
	var cause error
	select {
	case cause = <-causes:
	case <-time.After(2 * waitLong):
		t.Fatal("handler never returned")
	}
	var ge *GoneError
	if !errors.As(cause, &ge) || ge.Reason != ReasonReset || ge.Phase != PhaseHandler {
		t.Fatalf("cause = %v, want ErrClientGone, reason reset, phase handler", cause)
	}
}

// waitFired waits until the watcher's registration of g's only connection
// no longer asks for the FIN: the kernel clears a one-shot registration's
// events when it fires, and a re-arm asks only for the losses.
func waitFired(t *testing.T, g *Guard, wait time.Duration) {
	t.Helper()
	var c *conn
	g.mu.Lock()
	for _, cc := range g.conns {
		c = cc
	}
	g.mu.Unlock()
	if c == nil || !c.watched {
		t.Fatal("the connection is not watched")
	}
	for deadline := time.Now().Add(wait); ; time.Sleep(time.Millisecond) {
		awaits, err := c.sock.AwaitsFIN()
		if err != nil {
			t.Fatal(err)
		}
		if !awaits {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the watcher never took the FIN")
		}
	}
}
