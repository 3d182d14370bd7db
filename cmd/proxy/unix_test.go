package proxy

import (
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hangup-dev/hangup"
)

// TestUnixUpstream: a unix:/path.sock upstream gets the requests with Host
// localhost (the client's with PreserveHost), on the direct path and
// through ReverseProxy, and a client that leaves cancels its request there.
func TestUnixUpstream(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "app.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Skipf("no unix sockets here: %v", err)
	}
	hosts := make(chan string, 16)
	ended := make(chan struct{}, 16)
	arrived := make(chan struct{}, 16)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hold" {
			arrived <- struct{}{}
			<-r.Context().Done()
			ended <- struct{}{}
			return
		}
		hosts <- r.Host
		w.Write([]byte("unix"))
	}))
	srv.Listener.Close()
	srv.Listener = ln
	hangup.Install(srv.Config)
	srv.Start()
	defer srv.Close()
	u, _ := url.Parse("unix:" + sock)

	for _, tc := range []struct {
		name         string
		preserveHost bool
		method, body string
		want         string
	}{
		{"GET", false, http.MethodGet, "", "localhost"},
		{"POST", false, http.MethodPost, "a body", "localhost"},
		{"GET preserving Host", true, http.MethodGet, "", "client.example"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := startProxy(t, Config{Upstreams: []*url.URL{u}, PreserveHost: tc.preserveHost})
			c := client(t)
			req, _ := http.NewRequest(tc.method, "http://"+h.addr+"/x", nil)
			if tc.body != "" {
				req, _ = http.NewRequest(tc.method, "http://"+h.addr+"/x", strings.NewReader(tc.body))
			}
			req.Host = "client.example"
			res, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != 200 {
				t.Fatalf("status %d", res.StatusCode)
			}
			if got := <-hosts; got != tc.want {
				t.Errorf("Host %q at the upstream, want %q", got, tc.want)
			}
			l := h.logs.waitFor(t, "for /x", func(l map[string]any) bool { return l["uri"] == "/x" })
			if l["upstream"] != "unix:"+sock {
				t.Errorf("access line's upstream %v", l["upstream"])
			}
		})
	}
	for _, tc := range []struct{ name, req string }{
		{"GET client gone", "GET /hold HTTP/1.1\r\nHost: x\r\n\r\n"},
		{"POST unread body client gone", "POST /hold HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\nsome"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := startProxy(t, Config{Upstreams: []*url.URL{u}})
			conn := dial(t, h.addr)
			write(t, conn, tc.req)
			waitChan(t, arrived, "the request at the upstream")
			closeRST(conn)
			waitChan(t, ended, "the upstream request cancelled")
		})
	}
}

func waitChan(t *testing.T, ch chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(waitLong):
		t.Fatalf("timed out waiting for %s", what)
	}
}
