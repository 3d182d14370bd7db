package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// listenerKind is one of the client listeners Serve has: plain TCP, or TLS
// that the proxy terminates (tlslisten.go).
type listenerKind struct {
	name string
	tls  bool
}

// listeners are both kinds, for the tests that run over each.
var listeners = []listenerKind{{"plain", false}, {"TLS", true}}

// config is cfg for a proxy on this kind of listener.
func (k listenerKind) config(t *testing.T, cfg Config) Config {
	if k.tls {
		cfg.TLSConfig = &tls.Config{Certificates: []tls.Certificate{selfSigned(t)}}
	}
	return cfg
}

// dial connects to addr as an HTTP/1 client of this kind of listener.
func (k listenerKind) dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	if !k.tls {
		return dial(t, addr)
	}
	return dialTLS(t, addr, "http/1.1")
}

// dialTLS connects to addr and completes a TLS handshake offering protos.
func dialTLS(t *testing.T, addr string, protos ...string) *tls.Conn {
	t.Helper()
	tc := tls.Client(dial(t, addr), &tls.Config{InsecureSkipVerify: true, NextProtos: protos})
	tc.SetDeadline(time.Now().Add(waitLong))
	if err := tc.Handshake(); err != nil {
		t.Fatalf("TLS handshake: %v", err)
	}
	tc.SetDeadline(time.Time{})
	return tc
}

// readToEOF reads c until the proxy closes it.
func readToEOF(t *testing.T, c net.Conn) string {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(waitLong))
	b, err := io.ReadAll(c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the proxy did not close the connection (read %q)", b)
	}
	return string(b)
}

// TestTLSHandshakeErrors: a handshake that fails is logged to the error log
// as net/http logs it, "http: TLS handshake error from ADDR: reason", and
// ends the connection; a client that never finishes its handshake is cut at
// the handshake timeout (ReadHeaderTimeout); a client that speaks cleartext
// HTTP gets net/http's 400, and an access line as a refusal.
func TestTLSHandshakeErrors(t *testing.T) {
	for _, tc := range []struct {
		name     string
		send     string
		answer   string // what the client reads before the proxy closes
		reason   string // in the error log's line
		rejected bool   // an access line for a 400
	}{
		{"never finishes", "", "", "timeout", false},
		{"not TLS", "hello, no TLS here\r\n", "", "tls: first record does not look like a TLS handshake", false},
		{"cleartext HTTP", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n", "client sent an HTTP request to an HTTPS server", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := newUpstream(t, nil)
			h := startProxy(t, listeners[1].config(t, Config{Upstream: u.url, ReadHeaderTimeout: 200 * time.Millisecond}))
			c := dial(t, h.addr)
			if tc.send != "" {
				write(t, c, tc.send)
			}
			if got := readToEOF(t, c); got != tc.answer {
				t.Errorf("the client read %q, want %q", got, tc.answer)
			}
			prefix := "http: TLS handshake error from " + c.LocalAddr().String() + ": "
			l := h.logs.waitLine(t, "error log line "+prefix+"…", func(l map[string]any) bool {
				msg, _ := l["msg"].(string)
				return strings.HasPrefix(msg, prefix)
			})
			if msg := l["msg"].(string); !strings.Contains(msg[len(prefix):], tc.reason) {
				t.Errorf("logged %q, want the reason to say %q", msg, tc.reason)
			}
			if tc.rejected {
				l := h.logs.waitFor(t, "of the refusal", func(l map[string]any) bool { return l["rejected"] == true })
				if l["status"] != 400.0 || l["error"] != tc.reason || l["remote"] != c.LocalAddr().String() {
					t.Errorf("access line %v, want status 400, error %q, remote %s", l, tc.reason, c.LocalAddr())
				}
			}
			u.noHit()
		})
	}
}

// TestTLSHandshakeOffAcceptLoop: a client that connects and never starts
// its handshake holds up no other client (the handshake timeout is an hour
// here), and Serve's shutdown ends its handshake: Serve returns, the client
// is disconnected, and no goroutine is left (goleak, in TestMain).
func TestTLSHandshakeOffAcceptLoop(t *testing.T) {
	u := newUpstream(t, nil)
	close(u.release)
	cfg := listeners[1].config(t, Config{Upstream: u.url, ReadHeaderTimeout: time.Hour, ShutdownTimeout: waitLong})
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	done := make(chan error, 1)
	go func() { done <- p.Serve(ctx, ln, nil) }()

	stuck := dial(t, ln.Addr().String()) // accepted before the next one
	c := dialTLS(t, ln.Addr().String(), "http/1.1")
	write(t, c, "GET /ok HTTP/1.1\r\nHost: x\r\n\r\n")
	if res, body := readResponse(t, c, "GET"); res.StatusCode != 200 || string(body) != "released /ok" {
		t.Fatalf("the second client got %d %q, want the upstream's answer", res.StatusCode, body)
	}
	c.Close()

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve = %v, want nil", err)
		}
	case <-time.After(waitLong):
		t.Fatal("Serve did not return while a handshake was under way")
	}
	if got := readToEOF(t, stuck); got != "" {
		t.Errorf("the stuck client read %q", got)
	}
}

// TestTLSProtocols: the proxy's TLS listener negotiates as ServeTLS did:
// HTTP/2 for a client that offers h2, HTTP/1.1 for one that offers only
// http/1.1 or nothing, after the protocols of the config's own NextProtos,
// which it does not change; a protocol of the config's that net/http does
// not serve ends the connection, as under ServeTLS. The upstream hears
// X-Forwarded-Proto https over each (r.TLS is set).
func TestTLSProtocols(t *testing.T) {
	for _, tc := range []struct {
		name       string
		nextProtos []string // the config's
		client     string   // "h2", "http/1.1": net/http's client with that protocol; else a raw one offering it
		wantALPN   string
		wantProto  string // "": the connection ends unanswered
	}{
		{"HTTP/2 client", nil, "h2", "h2", "HTTP/2.0"},
		{"HTTP/1 client (offers no ALPN)", nil, "http/1.1", "", "HTTP/1.1"},
		{"http/1.1 offered", nil, "raw http/1.1", "http/1.1", "HTTP/1.1"},
		{"nothing offered", nil, "raw", "", "HTTP/1.1"},
		{"HTTP/2 with the config's own protocol", []string{"acme-tls/1"}, "h2", "h2", "HTTP/2.0"},
		{"the config's own protocol", []string{"acme-tls/1"}, "raw acme-tls/1", "acme-tls/1", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := newUpstream(t, nil)
			close(u.release)
			cfg := listeners[1].config(t, Config{Upstream: u.url})
			cfg.TLSConfig.NextProtos = slices.Clone(tc.nextProtos)
			h := startProxy(t, cfg)

			var alpn, proto string
			if p, ok := strings.CutPrefix(tc.client, "raw"); ok {
				var protos []string
				if p = strings.TrimSpace(p); p != "" {
					protos = []string{p}
				}
				c := dialTLS(t, h.addr, protos...)
				alpn = c.ConnectionState().NegotiatedProtocol
				write(t, c, "GET /ok HTTP/1.1\r\nHost: x\r\n\r\n")
				if tc.wantProto == "" {
					if got := readToEOF(t, c); got != "" {
						t.Errorf("the client read %q, want nothing", got)
					}
				} else {
					res, _ := readResponse(t, c, "GET")
					proto = res.Proto
				}
			} else {
				tr := &http.Transport{Protocols: new(http.Protocols), TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}
				tr.Protocols.SetHTTP1(tc.client == "http/1.1")
				tr.Protocols.SetHTTP2(tc.client == "h2")
				t.Cleanup(tr.CloseIdleConnections) // before the proxy shuts down: it waits for idle HTTP/2 connections
				res, err := (&http.Client{Transport: tr, Timeout: waitLong}).Get("https://" + h.addr + "/ok")
				if err != nil {
					t.Fatal(err)
				}
				readAll(t, res)
				alpn, proto = res.TLS.NegotiatedProtocol, res.Proto
			}
			if alpn != tc.wantALPN || proto != tc.wantProto {
				t.Errorf("negotiated %q, answered in %q; want %q, %q", alpn, proto, tc.wantALPN, tc.wantProto)
			}
			if !slices.Equal(cfg.TLSConfig.NextProtos, tc.nextProtos) {
				t.Errorf("the config's NextProtos became %q", cfg.TLSConfig.NextProtos)
			}
			if tc.wantProto == "" {
				u.noHit()
				return
			}
			if xfp := u.waitHit().r.Header.Get("X-Forwarded-Proto"); xfp != "https" {
				t.Errorf("X-Forwarded-Proto %q upstream, want https", xfp)
			}
		})
	}
}

// TestTLSClientGone: an HTTP/1 client over TLS that leaves while its request
// is held upstream, by a FIN, an RST, or a close_notify alone (the socket
// stays open), has its upstream request cancelled and is logged 499 with the
// watcher's reason: hangup finds the socket, and the *tls.Conn, under the
// proxy's refusal watch.
func TestTLSClientGone(t *testing.T) {
	for _, tc := range []struct {
		name   string
		leave  func(*tls.Conn)
		reason string
	}{
		{"FIN", func(c *tls.Conn) { closeFIN(c.NetConn().(*net.TCPConn)) }, "closed"},
		{"RST", func(c *tls.Conn) { closeRST(c.NetConn().(*net.TCPConn)) }, "reset"},
		{"close_notify", func(c *tls.Conn) { c.CloseWrite() }, "closed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := newUpstream(t, nil)
			h := startProxy(t, listeners[1].config(t, Config{Upstream: u.url}))
			c := dialTLS(t, h.addr, "http/1.1")
			write(t, c, "GET /held HTTP/1.1\r\nHost: x\r\n\r\n")
			hit := u.waitHit()
			tc.leave(c)
			hit.waitEnded(t)
			l := h.logs.waitFor(t, "for /held", func(l map[string]any) bool { return l["uri"] == "/held" })
			if l["status"] != 499.0 || l["gone_reason"] != tc.reason {
				t.Errorf("access line %v, want status 499, gone_reason %s", l, tc.reason)
			}
		})
	}
}

// TestTLSNoCertificate: Serve with a TLS config that has no certificate
// fails at once and says what to do, as ServeTLS failed; it closes its
// listeners.
func TestTLSNoCertificate(t *testing.T) {
	u := newUpstream(t, nil)
	p, err := New(Config{Upstream: u.url, TLSConfig: &tls.Config{}})
	if err != nil {
		t.Fatal(err)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	admin, _ := net.Listen("tcp", "127.0.0.1:0")
	err = p.Serve(context.Background(), ln, admin)
	if err == nil || !strings.Contains(err.Error(), "no certificate") {
		t.Errorf("Serve = %v, want an error about the missing certificate", err)
	}
	for _, l := range []net.Listener{ln, admin} {
		if _, err := l.Accept(); !errors.Is(err, net.ErrClosed) {
			t.Errorf("Accept on a listener after Serve = %v, want it closed", err)
		}
	}
}
