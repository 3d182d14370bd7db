package proxy

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// testCA is a private certificate authority made for one test.
type testCA struct {
	t    *testing.T
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "hangup test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{t: t, cert: cert, key: key, pool: pool}
}

// issue makes a leaf certificate for cn, valid for names (DNS names or IP
// addresses), for a server or a client.
func (ca *testCA) issue(cn string, client bool, names ...string) tls.Certificate {
	ca.t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		ca.t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if client {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		ca.t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// tlsUpstream starts an https upstream with cert, speaking HTTP/2 if h2,
// requiring a client certificate of clientCA if not nil; h as newUpstream's.
func tlsUpstream(t *testing.T, cert tls.Certificate, h2 bool, clientCA *testCA, h func(w http.ResponseWriter, r *http.Request, hit *hit)) *upstream {
	t.Helper()
	return newUpstreamWith(t, h, func(s *httptest.Server) {
		s.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
		if clientCA != nil {
			s.TLS.ClientAuth, s.TLS.ClientCAs = tls.RequireAndVerifyClientCert, clientCA.pool
		}
		s.EnableHTTP2 = h2
		s.Config.ErrorLog = log.New(io.Discard, "", 0) // the handshakes the test fails on purpose
		s.StartTLS()
	})
}

// whoAmI answers with the name the client asked for (SNI), the client
// certificate's name, and the protocol.
func whoAmI(w http.ResponseWriter, r *http.Request, _ *hit) {
	peer := "-"
	if len(r.TLS.PeerCertificates) > 0 {
		peer = r.TLS.PeerCertificates[0].Subject.CommonName
	}
	io.WriteString(w, r.TLS.ServerName+" "+peer+" "+r.Proto)
}

// TestTLSUpstream: https upstreams with a private CA, a server name, a
// client certificate, or no verification; and what a failed verification
// gets: a 502, and an access line that says why.
func TestTLSUpstream(t *testing.T) {
	ca, other := newTestCA(t), newTestCA(t)
	byIP := ca.issue("upstream", false, "127.0.0.1")
	byName := ca.issue("upstream", false, "app.internal")
	clientCert := ca.issue("proxy", true)
	for _, tc := range []struct {
		name     string
		cert     tls.Certificate
		h2       bool
		clientCA *testCA
		cfg      *tls.Config
		want     string // the body; "" for a 502
		wantErr  string // in the access line's error, "|" between the parts
		warn     bool   // the skip-verify warning is logged
	}{
		{name: "private CA", cert: byIP, cfg: &tls.Config{RootCAs: ca.pool}, want: " - HTTP/1.1"},
		{name: "private CA over HTTP/2", cert: byIP, h2: true, cfg: &tls.Config{RootCAs: ca.pool}, want: " - HTTP/2.0"},
		{name: "no CA given", cert: byIP, wantErr: "TLS handshake with the upstream|certificate signed by unknown authority"},
		{name: "another CA", cert: byIP, cfg: &tls.Config{RootCAs: other.pool}, wantErr: "TLS handshake with the upstream|certificate signed by unknown authority"},
		{name: "server name", cert: byName, cfg: &tls.Config{RootCAs: ca.pool, ServerName: "app.internal"}, want: "app.internal - HTTP/1.1"},
		{name: "name not in the certificate", cert: byName, cfg: &tls.Config{RootCAs: ca.pool}, wantErr: "TLS handshake with the upstream|doesn't contain any IP SANs"},
		{name: "client certificate", cert: byIP, clientCA: ca, cfg: &tls.Config{RootCAs: ca.pool, Certificates: []tls.Certificate{clientCert}}, want: " proxy HTTP/1.1"},
		{name: "client certificate over HTTP/2", cert: byIP, h2: true, clientCA: ca, cfg: &tls.Config{RootCAs: ca.pool, Certificates: []tls.Certificate{clientCert}}, want: " proxy HTTP/2.0"},
		{name: "client certificate missing", cert: byIP, clientCA: ca, cfg: &tls.Config{RootCAs: ca.pool}, wantErr: "certificate required"},
		{name: "skip verify", cert: byIP, cfg: &tls.Config{InsecureSkipVerify: true}, want: " - HTTP/1.1", warn: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up := tlsUpstream(t, tc.cert, tc.h2, tc.clientCA, whoAmI)
			h := startProxy(t, Config{Upstream: up.url, UpstreamTLS: tc.cfg})
			status, body := do(t, client(t), http.MethodGet, "http://"+h.addr+"/who", "")
			switch {
			case tc.want != "" && (status != http.StatusOK || body != tc.want):
				t.Errorf("got %d %q, want 200 %q", status, body, tc.want)
			case tc.want == "" && status != http.StatusBadGateway:
				t.Errorf("got %d %q, want 502", status, body)
			}
			l := h.logs.waitFor(t, "the access line", func(l map[string]any) bool { return l["uri"] == "/who" })
			if tc.wantErr != "" {
				e, _ := l["error"].(string)
				for part := range strings.SplitSeq(tc.wantErr, "|") {
					if !strings.Contains(e, part) {
						t.Errorf("access line's error %q, want it to say %q", e, part)
					}
				}
			}
			h.logs.mu.Lock()
			warned := false
			for _, l := range h.logs.lines {
				m, _ := l["msg"].(string)
				warned = warned || (l["level"] == "WARN" && strings.Contains(m, "not verified"))
			}
			h.logs.mu.Unlock()
			if warned != tc.warn {
				t.Errorf("skip-verify warning logged: %v, want %v", warned, tc.warn)
			}
		})
	}
}

// TestTLSUpstreamClientGone: a client that leaves cancels its request at an
// https upstream, over HTTP/1 (the connection is closed) and HTTP/2 (the
// stream is reset), with or without a body still unread.
func TestTLSUpstreamClientGone(t *testing.T) {
	ca := newTestCA(t)
	cert := ca.issue("upstream", false, "127.0.0.1")
	for _, h2 := range []bool{false, true} {
		for _, tc := range []struct{ name, req string }{
			{"GET", "GET /hold HTTP/1.1\r\nHost: x\r\n\r\n"},
			{"POST unread body", "POST /hold HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\nsome"},
		} {
			name := tc.name + " over HTTP/1"
			if h2 {
				name = tc.name + " over HTTP/2"
			}
			t.Run(name, func(t *testing.T) {
				up := tlsUpstream(t, cert, h2, nil, nil)
				h := startProxy(t, Config{Upstream: up.url, UpstreamTLS: &tls.Config{RootCAs: ca.pool}})
				conn := dial(t, h.addr)
				write(t, conn, tc.req)
				hit := up.waitHit()
				if got, want := hit.r.ProtoMajor == 2, h2; got != want {
					t.Fatalf("upstream request over %s", hit.r.Proto)
				}
				closeRST(conn)
				hit.waitEnded(t)
			})
		}
	}
}

// TestTLSHandshakeFailureEjects: a handshake that fails is a connection
// not made: the request goes to the other upstream (the client sees no
// error), and the upstream with the bad certificate is ejected.
func TestTLSHandshakeFailureEjects(t *testing.T) {
	ca, other := newTestCA(t), newTestCA(t)
	good := tlsUpstream(t, ca.issue("good", false, "127.0.0.1"), false, nil, whoAmI)
	bad := tlsUpstream(t, other.issue("bad", false, "127.0.0.1"), false, nil, whoAmI)
	h := startProxy(t, Config{
		Upstreams:   []*url.URL{bad.url, good.url},
		UpstreamTLS: &tls.Config{RootCAs: ca.pool},
		Balance:     BalanceFirst,
		MaxFails:    2,
	})
	c := client(t)
	for i := range 4 {
		req, _ := http.NewRequest(http.MethodPost, "http://"+h.addr+"/", strings.NewReader("a body"))
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Fatalf("request %d: status %d, want 200 from the other upstream", i, res.StatusCode)
		}
	}
	h.logs.logged(t, "upstream ejected", bad.url.Host)
	if n := bad.hits.Load(); n != 0 {
		t.Errorf("the upstream with the bad certificate served %d requests", n)
	}
}
