package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hangup-dev/hangup"
)

// TestShutdownFinishesInFlight: once Serve's context is done, /healthz says
// 503, a request in flight still gets its answer, and Serve returns nil.
func TestShutdownFinishesInFlight(t *testing.T) {
	u := newUpstream(t, nil)
	p, err := New(Config{Upstream: u.url, ShutdownTimeout: waitLong})
	if err != nil {
		t.Fatal(err)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	admin, _ := net.Listen("tcp", "127.0.0.1:0")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Serve(ctx, ln, admin) }()

	c := client(t)
	answer := make(chan *http.Response, 1)
	go func() {
		res, err := c.Get("http://" + ln.Addr().String() + "/long")
		if err != nil {
			t.Error(err)
			close(answer)
			return
		}
		answer <- res
	}()
	u.waitHit()
	cancel()
	for !p.draining.Load() {
		time.Sleep(time.Millisecond) // Serve reacts to ctx on its own goroutine
	}
	res, err := c.Get("http://" + admin.Addr().String() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	if readAll(t, res); res.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("/healthz while shutting down: %d, want 503", res.StatusCode)
	}
	close(u.release)
	if res := <-answer; res == nil || readAll(t, res) != "released /long" {
		t.Errorf("the request in flight did not get its answer")
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve = %v, want nil", err)
		}
	case <-time.After(waitLong):
		t.Fatal("Serve did not return")
	}
}

// TestShutdownCutsWhatOutlastsIt: a request still running when the
// shutdown timeout is over is cut, and so is its upstream request: nothing
// is left running after Serve returns (goleak checks).
func TestShutdownCutsWhatOutlastsIt(t *testing.T) {
	for _, tc := range []struct{ name, method, body string }{
		{"GET (direct path)", "GET", ""},
		{"POST (ReverseProxy)", "POST", "payload"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := newUpstream(t, nil)
			p, err := New(Config{Upstream: u.url, ShutdownTimeout: 50 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			ln, _ := net.Listen("tcp", "127.0.0.1:0")
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- p.Serve(ctx, ln, nil) }()
			c := dial(t, ln.Addr().String())
			write(t, c, fmt.Sprintf("%s /long HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s", tc.method, len(tc.body), tc.body))
			hit := u.waitHit()
			cancel()
			select {
			case err := <-done:
				if err == nil || !strings.Contains(err.Error(), "were cut") {
					t.Errorf("Serve = %v, want the requests cut", err)
				}
			case <-time.After(waitLong):
				t.Fatal("Serve did not return")
			}
			hit.waitEnded(t)
		})
	}
}

// TestHTTP2Clients: over TLS (ALPN h2) and h2c, a client that resets its
// stream has its upstream request cancelled.
func TestHTTP2Clients(t *testing.T) {
	for _, mode := range []string{"tls", "h2c"} {
		t.Run(mode, func(t *testing.T) {
			u := newUpstream(t, nil)
			cfg := Config{Upstream: u.url}
			tr := &http.Transport{Protocols: new(http.Protocols)}
			scheme := "http"
			if mode == "tls" {
				cfg.TLSConfig = &tls.Config{Certificates: []tls.Certificate{selfSigned(t)}}
				tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true}
				tr.Protocols.SetHTTP2(true)
				scheme = "https"
			} else {
				cfg.H2C = true
				tr.Protocols.SetUnencryptedHTTP2(true)
			}
			h := startProxy(t, cfg)
			c := &http.Client{Transport: tr}

			close(u.release)
			res, err := c.Get(scheme + "://" + h.addr + "/ok")
			if err != nil {
				t.Fatal(err)
			}
			if body := readAll(t, res); res.ProtoMajor != 2 || body != "released /ok" {
				t.Fatalf("got %s %q, want HTTP/2 and the upstream's answer", res.Proto, body)
			}
			u.waitHit()

			// A held request, on an upstream that holds.
			u2 := newUpstream(t, nil)
			h2 := startProxy(t, Config{Upstream: u2.url, TLSConfig: cfg.TLSConfig, H2C: cfg.H2C})
			t.Cleanup(tr.CloseIdleConnections) // before the proxies shut down: they wait for idle HTTP/2 connections
			ctx, cancel := context.WithCancel(context.Background())
			req, _ := http.NewRequestWithContext(ctx, "GET", scheme+"://"+h2.addr+"/held", nil)
			errc := make(chan error, 1)
			go func() {
				res, err := c.Do(req)
				if err == nil {
					res.Body.Close()
				}
				errc <- err
			}()
			hit := u2.waitHit()
			cancel() // RST_STREAM
			hit.waitEnded(t)
			if err := <-errc; !errors.Is(err, context.Canceled) {
				t.Errorf("client error = %v", err)
			}
			line := h2.logs.waitFor(t, "with status 499", func(l map[string]any) bool { return l["status"] == 499.0 })
			if line["gone_reason"] != hangup.ReasonStreamReset.String() || line["proto"] != "HTTP/2.0" {
				t.Errorf("access log line = %v", line)
			}
		})
	}
}

// selfSigned is a server certificate for 127.0.0.1, for clients that do not
// verify it.
func selfSigned(t *testing.T) tls.Certificate {
	t.Helper()
	return newTestCA(t).issue("proxy", false, "127.0.0.1")
}
