package proxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/hangup-dev/hangup"
)

func TestStatusFor(t *testing.T) {
	cases := []struct {
		err  error
		want int
	}{
		{&hangup.GoneError{}, 499},
		{errWaitersGone, 499},
		{hangup.ErrQueueFull, 503},
		{fmt.Errorf("wrapped: %w", hangup.ErrQueueTimeout), 503},
		{ErrUpstreamTimeout, 504},
		{context.DeadlineExceeded, 504},
		{&net.OpError{Op: "dial", Err: errors.New("connection refused")}, 502},
		{errors.New("malformed HTTP response"), 502},
	}
	for _, tc := range cases {
		if got := statusFor(tc.err); got != tc.want {
			t.Errorf("statusFor(%v) = %d, want %d", tc.err, got, tc.want)
		}
	}
}

// TestUnreachableUpstream: 502 with a body that says what happened; the
// details go to the log.
func TestUnreachableUpstream(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	h := startProxy(t, Config{Upstream: &url.URL{Scheme: "http", Host: addr}})
	res, err := client(t).Get("http://" + h.addr + "/x")
	if err != nil {
		t.Fatal(err)
	}
	body := readAll(t, res)
	if res.StatusCode != http.StatusBadGateway || !strings.Contains(body, "could not get a valid response from the upstream") {
		t.Errorf("got %d %q, want 502 with a clear body", res.StatusCode, body)
	}
	line := h.logs.waitFor(t, "of the 502", func(l map[string]any) bool { return l["status"] == 502.0 })
	if e, _ := line["error"].(string); !strings.Contains(e, "connection refused") {
		t.Errorf("logged error = %q, want the dial error", e)
	}
	if got := testCounter(t, h.p.m.upstream.WithLabelValues(outcomeError)); got != 1 {
		t.Errorf("upstream requests{error} = %v, want 1", got)
	}
}

// TestUpstreamTimeout: an upstream that does not answer within
// UpstreamTimeout gets its request cancelled, and the client 504.
func TestUpstreamTimeout(t *testing.T) {
	u := newUpstream(t, nil)
	h := startProxy(t, Config{Upstream: u.url, UpstreamTimeout: 50 * time.Millisecond})
	res, err := client(t).Get("http://" + h.addr + "/slow")
	if err != nil {
		t.Fatal(err)
	}
	body := readAll(t, res)
	if res.StatusCode != http.StatusGatewayTimeout || !strings.Contains(body, "did not answer in time") {
		t.Errorf("got %d %q, want 504", res.StatusCode, body)
	}
	u.waitHit().waitEnded(t)
	if got := testCounter(t, h.p.m.upstream.WithLabelValues(outcomeTimeout)); got != 1 {
		t.Errorf("upstream requests{timeout} = %v, want 1", got)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	mustURL := func(s string) *url.URL {
		u, err := url.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	cases := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no upstream", Config{}, "no upstream"},
		{"no scheme", Config{Upstream: &url.URL{Host: "127.0.0.1:9000"}}, "scheme"},
		{"no host", Config{Upstream: mustURL("http:///x")}, "no host"},
		{"negative", Config{Upstream: mustURL("http://a"), MaxInflight: -1}, "MaxInflight must not be negative"},
	}
	for _, tc := range cases {
		if _, err := New(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: New = %v, want an error about %q", tc.name, err, tc.want)
		}
	}
}
