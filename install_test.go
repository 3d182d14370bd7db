package hangup_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/hangup-dev/hangup"
)

// TestInstallTwice: a second Install on the same server panics, naming the
// fix, and leaves the server as the first call wired it: an unread-body POST
// is still cancelled when its client sends FIN. Before, the second call
// quietly made every connection fall back to net/http's detection, which
// never cancels such a POST (golang/go#23262).
func TestInstallTwice(t *testing.T) {
	s := &server{t: t, entered: make(chan *http.Request, 1), results: make(chan outcome, 1)}
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(s.waitHandler))
	s.g = hangup.Install(s.srv.Config)
	msg := func() (msg string) {
		defer func() {
			if v := recover(); v != nil {
				msg = fmt.Sprint(v)
			}
		}()
		hangup.Install(s.srv.Config, hangup.HalfCloseWaits())
		return "no panic"
	}()
	if !strings.Contains(msg, "hangup: Install called twice") || !strings.Contains(msg, "keep the *Guard the first Install returned") {
		t.Errorf("second Install: %s; want a panic that names the mistake and the fix", msg)
	}
	s.srv.Start()
	t.Cleanup(s.srv.Close)

	c := dialTCP(t, s.addr())
	write(t, c, reqPostPartial)
	s.waitEntered()
	c.Close()
	o := s.waitResult()
	expectGone(t, o, hangup.PhaseHandler)
	if o.departure.Reason != hangup.ReasonClosed {
		t.Errorf("reason = %v, want closed", o.departure.Reason)
	}
	if st := s.g.Stats(); st.GoneTotal() != 1 {
		t.Errorf("stats %+v: want the first Guard to have counted the departure", st)
	}
	// The panic is about one server: another one installs.
	hangup.Install(&http.Server{})
}
