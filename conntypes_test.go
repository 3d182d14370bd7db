package hangup_test

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/hangup-dev/hangup"
)

// TestConnTypes: sockets that are not TCP are watched too, wrapped conns
// are unwrapped through NetConn(), and a conn that cannot be unwrapped falls
// back to what net/http sees.
func TestConnTypes(t *testing.T) {
	cases := []struct {
		name    string
		network string
		wrap    func(net.Conn) net.Conn
		request string
		watched bool
		reason  hangup.Reason
	}{
		{"unix-socket/POST-unread", "unix", nil, reqPostPartial, true, hangup.ReasonClosed},
		{"wrapped-with-NetConn/POST-unread", "tcp", func(c net.Conn) net.Conn { return unwrappable{c} }, reqPostPartial, true, hangup.ReasonClosed},
		{"opaque-wrapper/GET", "tcp", func(c net.Conn) net.Conn { return opaque{c} }, reqGET, false, hangup.ReasonNetHTTP},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			addr := "127.0.0.1:0"
			if tc.network == "unix" {
				addr = filepath.Join(t.TempDir(), "s.sock")
			}
			ln, err := net.Listen(tc.network, addr)
			if err != nil {
				t.Fatal(err)
			}
			if tc.wrap != nil {
				ln = wrapListener{ln, tc.wrap}
			}
			s := &server{t: t, entered: make(chan *http.Request, 1), results: make(chan outcome, 1)}
			srv := httptest.NewUnstartedServer(http.HandlerFunc(s.waitHandler))
			srv.Listener.Close()
			srv.Listener = ln
			s.g = hangup.Install(srv.Config)
			srv.Start()
			defer srv.Close()

			c, err := net.Dial(tc.network, ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			io.WriteString(c, tc.request)
			s.waitEntered()
			if got := s.g.Stats().Watched == 1; got != tc.watched {
				t.Errorf("watched = %v, want %v", got, tc.watched)
			}
			c.Close()
			o := s.waitResult()
			expectGone(t, o, hangup.PhaseHandler)
			if o.departure.Reason != tc.reason {
				t.Errorf("reason = %v, want %v", o.departure.Reason, tc.reason)
			}
		})
	}
}

type wrapListener struct {
	net.Listener
	wrap func(net.Conn) net.Conn
}

func (l wrapListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return l.wrap(c), nil
}

// unwrappable hides the socket but tells where it is, as *tls.Conn does.
type unwrappable struct{ net.Conn }

func (u unwrappable) NetConn() net.Conn { return u.Conn }

// opaque hides the socket for good.
type opaque struct{ c net.Conn }

func (o opaque) Read(p []byte) (int, error)         { return o.c.Read(p) }
func (o opaque) Write(p []byte) (int, error)        { return o.c.Write(p) }
func (o opaque) Close() error                       { return o.c.Close() }
func (o opaque) LocalAddr() net.Addr                { return o.c.LocalAddr() }
func (o opaque) RemoteAddr() net.Addr               { return o.c.RemoteAddr() }
func (o opaque) SetDeadline(t time.Time) error      { return o.c.SetDeadline(t) }
func (o opaque) SetReadDeadline(t time.Time) error  { return o.c.SetReadDeadline(t) }
func (o opaque) SetWriteDeadline(t time.Time) error { return o.c.SetWriteDeadline(t) }
