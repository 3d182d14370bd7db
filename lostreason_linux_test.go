package hangup_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hangup-dev/hangup"
)

// TestResetAfterRetransmission: a peer that resets a connection that once
// had to retransmit, and recovered, reset it: the reason says reset, not
// timeout. The reason is read once net/http would have taken the socket's
// error (the server's read got ECONNRESET), so only the TCP state is left
// to decide; tcpi_total_retrans, which counts over the connection's whole
// life, took this RST for a vanished peer. The client runs in a network
// namespace and its link goes down for a moment, so that the server's data
// goes unacknowledged and is retransmitted. Needs root and iproute2.
func TestResetAfterRetransmission(t *testing.T) {
	ns := newNetns(t)
	ln, err := net.Listen("tcp", ns.hostIP+":0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client := exec.Command("ip", "netns", "exec", ns.name, os.Args[0], "-test.run=^TestHelperResetClient$")
	client.Env = append(os.Environ(), "HANGUP_RESET_ADDR="+ln.Addr().String())
	client.Stderr = os.Stderr
	stdin, _ := client.StdinPipe()
	if err := client.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { stdin.Close(); client.Process.Kill(); client.Wait() }()
	ln.(*net.TCPListener).SetDeadline(time.Now().Add(waitLong))
	nc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	c := nc.(*net.TCPConn)
	defer c.Close()

	until := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(waitLong)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("never %s: %+v", what, tcpInfo(t, c))
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	ns.run(t, "ip", "netns", "exec", ns.name, "ip", "link", "set", ns.peer, "down")
	write(t, c, strings.Repeat("x", 1000))
	until("retransmitted", func() bool { return tcpInfo(t, c).Total_retrans > 0 })
	ns.run(t, "ip", "netns", "exec", ns.name, "ip", "link", "set", ns.peer, "up")
	until("recovered", func() bool {
		ti := tcpInfo(t, c)
		return ti.Unacked == 0 && ti.Retransmits == 0 && ti.Probes == 0
	})

	io.WriteString(stdin, "rst\n")
	c.SetReadDeadline(time.Now().Add(waitLong))
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("read: %v, want the client's reset", err)
	}
	if r := hangup.LostReason(c); r != hangup.ReasonReset {
		t.Fatalf("reason = %v, want reset (TCP state %+v)", r, tcpInfo(t, c))
	}
}

// TestHelperResetClient is TestResetAfterRetransmission's client, run inside
// the network namespace: it reads what the server sends and resets the
// connection when told.
func TestHelperResetClient(t *testing.T) {
	addr := os.Getenv("HANGUP_RESET_ADDR")
	if addr == "" {
		t.Skip("helper process for TestResetAfterRetransmission")
	}
	c, err := net.Dial("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	go io.Copy(io.Discard, c)
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		if sc.Text() == "rst" {
			c.(*net.TCPConn).SetLinger(0)
			c.Close()
		}
	}
	os.Exit(0)
}
