package hangup_test

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// tcpInfo reads the kernel's TCP_INFO of c, one of the test's own sockets.
func tcpInfo(t *testing.T, c *net.TCPConn) *unix.TCPInfo {
	t.Helper()
	raw, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var ti *unix.TCPInfo
	var ierr error
	if err := raw.Control(func(fd uintptr) {
		ti, ierr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
	}); err != nil {
		t.Fatal(err)
	}
	if ierr != nil {
		t.Fatal(ierr)
	}
	return ti
}

// waitAcked waits until everything written on c has been acknowledged by
// the peer's kernel, that is, sits in the peer's receive queue or was read,
// and returns how many bytes c has had acknowledged in all.
func waitAcked(t *testing.T, c *net.TCPConn) uint64 {
	t.Helper()
	deadline := time.Now().Add(waitLong)
	for {
		ti := tcpInfo(t, c)
		if ti.Unacked == 0 && ti.Notsent_bytes == 0 {
			return ti.Bytes_acked
		}
		if time.Now().After(deadline) {
			t.Fatalf("written data never acknowledged: %+v", ti)
		}
		time.Sleep(time.Millisecond)
	}
}

// waitPeerRead waits until the program at the other end of c has read some
// of the last n bytes c's kernel delivered to it: the peer socket's receive
// queue (rx_queue in /proc/net/tcp) holds fewer than n. Call it after
// waitAcked, and only when everything delivered before was read.
func waitPeerRead(t *testing.T, c *net.TCPConn, n uint64) {
	t.Helper()
	deadline := time.Now().Add(waitLong)
	for {
		_, q, ok := queues(t, c.RemoteAddr().(*net.TCPAddr), c.LocalAddr().(*net.TCPAddr))
		if !ok {
			t.Fatalf("no socket %v -> %v in /proc/net/tcp", c.RemoteAddr(), c.LocalAddr())
		}
		if q < n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the peer never read: %d of %d bytes still queued", q, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// queues finds the IPv4 socket bound to local and connected to remote in
// /proc/net/tcp and returns how many bytes it holds to send or to be
// acknowledged (tx) and how many received bytes it holds unread (rx).
func queues(t *testing.T, local, remote *net.TCPAddr) (tx, rx uint64, ok bool) {
	t.Helper()
	f, err := os.Open("/proc/net/tcp")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want := [2]string{procAddr(t, local), procAddr(t, remote)}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// sl local_address rem_address st tx_queue:rx_queue ...
		fs := strings.Fields(sc.Text())
		if len(fs) < 5 || fs[1] != want[0] || fs[2] != want[1] {
			continue
		}
		txs, rxs, ok := strings.Cut(fs[4], ":")
		if !ok {
			t.Fatalf("/proc/net/tcp: bad queue field %q", fs[4])
		}
		tx, err1 := strconv.ParseUint(txs, 16, 64)
		rx, err2 := strconv.ParseUint(rxs, 16, 64)
		if err := errors.Join(err1, err2); err != nil {
			t.Fatal(err)
		}
		return tx, rx, true
	}
	return 0, 0, false
}

// procAddr writes a as /proc/net/tcp does: the address as a host-order
// 32-bit word in hex, a colon, the port in hex.
func procAddr(t *testing.T, a *net.TCPAddr) string {
	t.Helper()
	ip4 := a.IP.To4()
	if ip4 == nil {
		t.Fatalf("%v: not IPv4", a)
	}
	return fmt.Sprintf("%08X:%04X", binary.NativeEndian.Uint32(ip4), a.Port)
}
