package watch

import (
	"io"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// waitLong bounds every wait for the kernel, so that a missed event fails
// the test instead of hanging it; no assertion is about time.
const waitLong = 10 * time.Second

// recorder is an Observer that keeps what it saw, in order.
type recorder chan Event

func (r recorder) Saw(ev Event) { r <- ev }

// next returns the next event r saw.
func (r recorder) next(t *testing.T) Event {
	t.Helper()
	select {
	case ev := <-r:
		return ev
	case <-time.After(waitLong):
		t.Fatal("the watcher reported nothing")
		return 0
	}
}

// pair returns both ends of a loopback connection of network ("tcp" or
// "unix"): the server's, accepted, and the client's.
func pair(t *testing.T, network string) (server, client net.Conn) {
	t.Helper()
	addr := "127.0.0.1:0"
	if network == "unix" {
		addr = filepath.Join(t.TempDir(), "s")
	}
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err = net.DialTimeout(network, ln.Addr().String(), waitLong)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	server, err = ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { server.Close() })
	return server, client
}

func rawOf(t *testing.T, c net.Conn) syscall.RawConn {
	t.Helper()
	raw, err := c.(syscall.Conn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// watched starts watching server for a new recorder, and stops at cleanup.
func watched(t *testing.T, server net.Conn) (*Socket, recorder) {
	t.Helper()
	s, rec := new(Socket), make(recorder, 4)
	if !s.Start(rawOf(t, server), 0, rec) {
		t.Fatal("Start: the socket is not watched")
	}
	t.Cleanup(s.Stop)
	return s, rec
}

func write(t *testing.T, c net.Conn, s string) {
	t.Helper()
	if _, err := io.WriteString(c, s); err != nil {
		t.Fatal(err)
	}
}

// TestEvents: what the peer does, on a real loopback socket, and the one
// event the watcher reports for it. The data a peer sends before it leaves
// wakes nothing (EPOLLIN is not asked for, and with a one-shot registration
// a wake on data would have used up the FIN's): the first and only event is
// the departure, and the data is still there for the server to read.
func TestEvents(t *testing.T) {
	cases := []struct {
		name    string
		network string
		sent    string // by the client before it leaves
		unread  bool   // the server sent the client data it never reads
		leave   func(net.Conn) error
		want    Event
	}{
		{"close", "tcp", "", false, net.Conn.Close, FIN},
		{"half-close", "tcp", "", false, closeWrite, FIN},
		{"half-close/data pending", "tcp", "GET / HTTP/1.1\r\n\r\n", false, closeWrite, FIN},
		{"close/data pending", "tcp", "GET / HTTP/1.1\r\n\r\n", false, net.Conn.Close, FIN},
		{"reset", "tcp", "", false, reset, Reset},
		// A socket closed with data unread sends an RST, not a FIN (RFC 2525, 2.17).
		{"close/unread", "tcp", "", true, net.Conn.Close, Reset},
		{"unix/close", "unix", "", false, net.Conn.Close, HungUp},
		{"unix/close/data pending", "unix", "x", false, net.Conn.Close, HungUp},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			server, client := pair(t, tc.network)
			_, rec := watched(t, server)
			if tc.unread {
				write(t, server, "unread")
				waitUnread(t, client, len("unread"))
			}
			if tc.sent != "" {
				write(t, client, tc.sent)
			}
			if err := tc.leave(client); err != nil {
				t.Fatal(err)
			}
			if ev := rec.next(t); ev != tc.want {
				t.Fatalf("event = %v, want %v", ev, tc.want)
			}
			select {
			case ev := <-rec:
				t.Fatalf("a second event, %v, after %v", ev, tc.want)
			default:
			}
			if tc.sent != "" {
				server.SetReadDeadline(time.Now().Add(waitLong))
				b := make([]byte, len(tc.sent))
				if _, err := io.ReadFull(server, b); err != nil || string(b) != tc.sent {
					t.Fatalf("the server read %q (%v), want what the client sent, %q", b, err, tc.sent)
				}
			}
		})
	}
}

func closeWrite(c net.Conn) error { return c.(*net.TCPConn).CloseWrite() }

func reset(c net.Conn) error {
	c.(*net.TCPConn).SetLinger(0)
	return c.Close()
}

// waitUnread waits until c's receive queue holds n bytes.
func waitUnread(t *testing.T, c net.Conn, n int) {
	t.Helper()
	raw := rawOf(t, c)
	for deadline := time.Now().Add(waitLong); ; time.Sleep(time.Millisecond) {
		var q int
		raw.Control(func(fd uintptr) { q, _ = unix.IoctlGetInt(int(fd), unix.SIOCINQ) })
		if q >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d bytes arrived", q, n)
		}
	}
}

// TestRearm: the registration is one-shot, and a FIN uses it up; the
// Observer that waits through a half-close asks again with Rearm, and then
// hears of the RST that follows. Sent together, FIN and RST would come as
// one event: the test waits until the registration shows it fired.
func TestRearm(t *testing.T) {
	server, client := pair(t, "tcp")
	s, rec := watched(t, server)
	if awaits, err := s.AwaitsFIN(); err != nil || !awaits {
		t.Fatalf("a new registration: AwaitsFIN = %v, %v; want true", awaits, err)
	}
	if err := closeWrite(client); err != nil {
		t.Fatal(err)
	}
	if ev := rec.next(t); ev != FIN {
		t.Fatalf("event = %v, want fin", ev)
	}
	s.Rearm()
	if awaits, err := s.AwaitsFIN(); err != nil || awaits {
		t.Fatalf("after Rearm: AwaitsFIN = %v, %v; want false", awaits, err)
	}
	// The client is still there the other way: it can hear the server.
	write(t, server, "answer")
	client.SetReadDeadline(time.Now().Add(waitLong))
	if _, err := io.ReadFull(client, make([]byte, len("answer"))); err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-rec:
		t.Fatalf("the answer's ACK was reported: %v", ev)
	default:
	}
	if err := reset(client); err != nil {
		t.Fatal(err)
	}
	if ev := rec.next(t); ev != Reset {
		t.Fatalf("event after Rearm = %v, want reset", ev)
	}
}

// TestStartStop: what Start refuses, and that Stop is final, repeatable and
// takes the epoll instance (and its goroutine, which TestMain's goleak
// would find) away with the last socket.
func TestStartStop(t *testing.T) {
	server, client := pair(t, "tcp")
	raw := rawOf(t, server)
	var s Socket
	if s.Start(nil, 0, make(recorder, 1)) {
		t.Fatal("Start(nil) watches")
	}
	rec := make(recorder, 4)
	if !s.Start(raw, time.Hour, rec) {
		t.Fatal("Start: the socket is not watched")
	}
	if s.Start(raw, 0, rec) {
		t.Fatal("a second Start watches")
	}
	s.Stop()
	s.Stop()
	if _, err := s.AwaitsFIN(); err == nil {
		t.Fatal("AwaitsFIN after Stop: no error")
	}
	s.Rearm() // nothing to rearm: must not act on the socket
	theWatcher.mu.Lock()
	ep, timers := theWatcher.ep, len(theWatcher.timers)
	theWatcher.mu.Unlock()
	if ep != nil || timers != 0 {
		t.Fatalf("after the last Stop: epoll %v, %d user timers; want none", ep, timers)
	}
	if s.Start(raw, 0, rec) {
		t.Fatal("Start after Stop watches")
	}
	client.Close()
	select {
	case ev := <-rec:
		t.Fatalf("a stopped socket reported %v", ev)
	default:
	}

	// epoll takes no file that cannot be polled: /dev/null is refused.
	var f Socket
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer devnull.Close()
	fraw, err := devnull.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	if f.Start(fraw, 0, rec) {
		f.Stop()
		t.Fatal("Start watches /dev/null")
	}
}

// TestEstablished: open both ways, until the peer's FIN; never for a socket
// that is not TCP.
func TestEstablished(t *testing.T) {
	server, client := pair(t, "tcp")
	if !Established(rawOf(t, server)) {
		t.Fatal("a new connection is not established")
	}
	_, rec := watched(t, server)
	closeWrite(client)
	rec.next(t)
	if Established(rawOf(t, server)) {
		t.Fatal("established after the peer's FIN")
	}
	userver, _ := pair(t, "unix")
	if Established(rawOf(t, userver)) {
		t.Fatal("a unix socket is established")
	}
}

// TestSetKeepAlive: the options the kernel holds, in whole seconds rounded
// up, and what the socket had where none is given (Go's net package turns
// keepalive on for accepted connections by itself).
func TestSetKeepAlive(t *testing.T) {
	cases := []struct {
		name           string
		idle, interval time.Duration
		count          int
		want           keepAliveOpts // zero fields: as the socket had them
	}{
		{"off", 0, time.Second, 3, keepAliveOpts{}},
		{"whole seconds", 2 * time.Second, 3 * time.Second, 4, keepAliveOpts{1, 2, 3, 4}},
		{"rounded up", 1500 * time.Millisecond, time.Millisecond, 1, keepAliveOpts{1, 2, 1, 1}},
		{"default interval and count", time.Second, 0, 0, keepAliveOpts{1, 1, 0, 0}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			server, _ := pair(t, "tcp")
			raw := rawOf(t, server)
			before := readKeepAlive(t, raw)
			SetKeepAlive(raw, tc.idle, tc.interval, tc.count)
			got := readKeepAlive(t, raw)
			want := tc.want
			for i := range want {
				if want[i] == 0 {
					want[i] = before[i]
				}
			}
			if got != want {
				t.Fatalf("on, idle, interval, count = %v, want %v", got, want)
			}
		})
	}
	SetKeepAlive(nil, time.Second, time.Second, 1) // no socket: nothing to do
}

// keepAliveOpts is SO_KEEPALIVE, TCP_KEEPIDLE, TCP_KEEPINTVL and TCP_KEEPCNT.
type keepAliveOpts [4]int

func readKeepAlive(t *testing.T, raw syscall.RawConn) (v keepAliveOpts) {
	t.Helper()
	opts := [4][2]int{
		{unix.SOL_SOCKET, unix.SO_KEEPALIVE},
		{unix.IPPROTO_TCP, unix.TCP_KEEPIDLE},
		{unix.IPPROTO_TCP, unix.TCP_KEEPINTVL},
		{unix.IPPROTO_TCP, unix.TCP_KEEPCNT},
	}
	var err error
	raw.Control(func(fd uintptr) {
		for i, o := range opts {
			if v[i], err = unix.GetsockoptInt(int(fd), o[0], o[1]); err != nil {
				return
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return v
}
