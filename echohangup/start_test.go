package echohangup_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hangup-dev/hangup"
	"github.com/hangup-dev/hangup/echohangup"
	"github.com/hangup-dev/hangup/internal/adaptertest"
	"github.com/labstack/echo/v4"
	"golang.org/x/net/http2"
)

// TestStartWays: every way Echo offers to start a server, after
// echohangup.Install(e), keeps hangup's detection. The client sends a POST
// whose body the handler never reads (net/http alone never cancels it,
// golang/go#23262) and leaves with a FIN; the handler's context must end
// with cause hangup.ErrClientGone, and Status must say 499.
func TestStartWays(t *testing.T) {
	cert, certPEM, keyPEM := selfSigned(t)
	ways := []struct {
		name string
		tls  bool
		// start serves e on ln in its own way and returns how to stop it.
		start func(e *echo.Echo, ln net.Listener) (serve func() error, shutdown func(context.Context) error)
	}{
		{"Start", false, func(e *echo.Echo, ln net.Listener) (func() error, func(context.Context) error) {
			e.Listener = ln
			return func() error { return e.Start("") }, e.Shutdown
		}},
		{"StartTLS", true, func(e *echo.Echo, ln net.Listener) (func() error, func(context.Context) error) {
			e.TLSListener = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}})
			return func() error { return e.StartTLS("", certPEM, keyPEM) }, e.Shutdown
		}},
		{"StartServer(e.Server)", false, func(e *echo.Echo, ln net.Listener) (func() error, func(context.Context) error) {
			e.Listener = ln
			return func() error { return e.StartServer(e.Server) }, e.Shutdown
		}},
		{"StartServer(own server, hangup.Install)", false, func(e *echo.Echo, ln net.Listener) (func() error, func(context.Context) error) {
			// Echo's advice for timeouts: a server of one's own.
			s := &http.Server{ReadHeaderTimeout: time.Minute}
			hangup.Install(s)
			e.Listener = ln
			return func() error { return e.StartServer(s) }, s.Shutdown
		}},
		{"StartH2CServer", false, func(e *echo.Echo, ln net.Listener) (func() error, func(context.Context) error) {
			e.Listener = ln
			return func() error { return e.StartH2CServer("", &http2.Server{}) }, e.Shutdown
		}},
		{"http.Server{Handler: e}", false, func(e *echo.Echo, ln net.Listener) (func() error, func(context.Context) error) {
			s := &http.Server{Handler: e}
			hangup.Install(s)
			return func() error { return s.Serve(ln) }, s.Shutdown
		}},
	}
	for _, w := range ways {
		t.Run(w.name, func(t *testing.T) {
			warned := captureWarnings(t)
			rec := adaptertest.NewRecorder(adaptertest.WaitLong)
			e := echo.New()
			e.HideBanner, e.HidePort = true, true
			echohangup.Install(e)
			e.POST(adaptertest.Path, handler(rec))
			var shutdown func(context.Context) error
			started := make(chan struct{})
			addr := adaptertest.Serve(t, func(ln net.Listener) error {
				serve, sd := w.start(e, ln)
				shutdown = sd
				close(started)
				return serve()
			}, func(ctx context.Context) error {
				<-started
				return shutdown(ctx)
			})
			c := dial(t, addr, w.tls)
			if _, err := io.WriteString(c, adaptertest.PostCutShort); err != nil {
				t.Fatal(err)
			}
			rec.WaitEntered(t)
			c.Close()
			o := rec.Result(t)
			adaptertest.WantGone(t, o, hangup.ReasonClosed)
			if o.Status != hangup.StatusClientClosedRequest {
				t.Errorf("Status = %d, want 499", o.Status)
			}
			if got := warned.All(); len(got) != 0 {
				t.Errorf("warned %q on a watched server", got)
			}
		})
	}
}

// TestWarnsOnUnwatchedServer: e.StartServer(s) with a server of one's own
// that hangup.Install never saw cannot see a client leave while its body is
// unread. The first request says so, once for the whole process, naming the
// fix; the next ones add nothing.
func TestWarnsOnUnwatchedServer(t *testing.T) {
	warned := captureWarnings(t)
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	echohangup.Install(e)
	e.GET(adaptertest.Path, func(c echo.Context) error { return c.String(http.StatusOK, "done") })
	s := &http.Server{ReadHeaderTimeout: time.Minute}
	addr := adaptertest.Serve(t, func(ln net.Listener) error {
		e.Listener = ln
		return e.StartServer(s)
	}, s.Shutdown)
	c := adaptertest.Dial(t, addr)
	for range 3 {
		c.Send(adaptertest.GET)
		c.ReadResponse()
	}
	got := warned.All()
	if len(got) != 1 {
		t.Fatalf("logged %q, want one warning", got)
	}
	if !strings.HasPrefix(got[0], "WARN ") || !strings.Contains(got[0], "hangup.Install(s) before e.StartServer(s)") {
		t.Errorf("warning %q does not name the fix", got[0])
	}
}

// TestWarnsWithoutInstall: hangup.Install(s) and then e.StartServer(s),
// without echohangup.Install: Echo replaces s.Handler with e, so no request
// is guarded, and echohangup's helpers cannot work. The first call says so,
// once for the whole process, naming the fix.
func TestWarnsWithoutInstall(t *testing.T) {
	warned := captureWarnings(t)
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.GET(adaptertest.Path, func(c echo.Context) error {
		echohangup.Departed(c)
		echohangup.Cause(c)
		return c.String(echohangup.Status(c), "done")
	}, echohangup.MustFinish(adaptertest.WaitLong))
	s := &http.Server{ReadHeaderTimeout: time.Minute}
	hangup.Install(s)
	addr := adaptertest.Serve(t, func(ln net.Listener) error {
		e.Listener = ln
		return e.StartServer(s)
	}, s.Shutdown)
	c := adaptertest.Dial(t, addr)
	for range 3 {
		c.Send(adaptertest.GET)
		c.ReadResponse()
	}
	got := warned.All()
	if len(got) != 1 {
		t.Fatalf("logged %q, want one warning", got)
	}
	if !strings.HasPrefix(got[0], "WARN ") || !strings.Contains(got[0], "echohangup.Install(e)") {
		t.Errorf("warning %q does not name the fix", got[0])
	}
}

// captureWarnings records what is logged with slog's default logger while
// the test runs, with the once-per-process warnings reset.
func captureWarnings(t *testing.T) *adaptertest.Warnings {
	echohangup.ResetWarnings()
	return adaptertest.CaptureWarnings(t)
}

func dial(t *testing.T, addr string, overTLS bool) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if !overTLS {
		return c
	}
	tc := tls.Client(c, &tls.Config{InsecureSkipVerify: true})
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	return tc
}

// selfSigned returns a certificate for 127.0.0.1, and it and its key in PEM
// for Echo's StartTLS.
func selfSigned(t *testing.T) (tls.Certificate, []byte, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, certPEM, keyPEM
}
