package proxy

import (
	"net"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestMeasureCancelLatency measures, over 200 trials per case, the time from
// a client's close to the moment the upstream handler sees its request
// context end: the proxy's hangup notices the FIN or RST, cancels the
// upstream request, the Transport closes the upstream connection, and the
// upstream's own hangup notices that. It asserts nothing; it logs p50, p99
// and max for README.md. Run with HANGUP_PROXY_MEASURE=1.
func TestMeasureCancelLatency(t *testing.T) {
	if os.Getenv("HANGUP_PROXY_MEASURE") == "" {
		t.Skip("set HANGUP_PROXY_MEASURE=1 to measure")
	}
	const trials = 200
	postUnread := "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1048576\r\n\r\n" + strings.Repeat("x", 64<<10)
	for _, tc := range []struct {
		name    string
		request string
		leave   func(*net.TCPConn)
	}{
		{"GET, FIN", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", closeFIN},
		{"GET, RST", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", closeRST},
		{"POST unread body, FIN", postUnread, closeFIN},
	} {
		u := newUpstream(t, nil)
		h := startProxy(t, Config{Upstream: u.url})
		lat := make([]time.Duration, 0, trials)
		for i := 0; i < trials; i++ {
			c := dial(t, h.addr)
			write(t, c, tc.request)
			hit := u.waitHit()
			start := time.Now()
			tc.leave(c)
			hit.waitEnded(t)
			lat = append(lat, hit.at.Sub(start))
		}
		slices.Sort(lat)
		t.Logf("%-22s p50 %v  p99 %v  max %v  (%d trials)", tc.name+":",
			lat[len(lat)/2].Round(time.Microsecond), lat[len(lat)*99/100].Round(time.Microsecond),
			lat[len(lat)-1].Round(time.Microsecond), trials)
	}
}
