package proxy

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptrace"
	"testing"
)

// On HTTP/2, answerError's (and forward's) "Connection: close" makes the h2
// server start a graceful shutdown (GOAWAY) of the whole client connection:
// one 413 on one stream retires the connection every other stream shares.
func TestH2ErrorKeepsConnection(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ *hit) { io.WriteString(w, "ok") })
	h := startProxy(t, Config{Upstream: up.url, H2C: true, MaxBodySize: 10})
	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	defer tr.CloseIdleConnections()
	var conns []string
	do := func(method, path string, body []byte) int {
		req, _ := http.NewRequest(method, "http://"+h.addr+path, bytes.NewReader(body))
		req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
			GotConn: func(i httptrace.GotConnInfo) { conns = append(conns, i.Conn.LocalAddr().String()) },
		}))
		res, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		io.ReadAll(res.Body)
		res.Body.Close()
		return res.StatusCode
	}
	s1 := do("GET", "/a", nil)
	s2 := do("POST", "/big", make([]byte, 100))
	s3 := do("GET", "/b", nil)
	t.Logf("statuses %d %d %d, connections %v", s1, s2, s3, conns)
	if conns[0] != conns[2] {
		t.Errorf("the 413 retired the client's HTTP/2 connection: request after it went on a new one (%v)", conns)
	}
}
