package hangup_test

import (
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/hangup-dev/hangup"
)

// TestOnDone: OnDone gets one report for every request, on real loopback
// clients, and Abandoned tells apart the requests OnAbandon also gets.
func TestOnDone(t *testing.T) {
	cases := []struct {
		name      string
		path      string
		leave     bool // the client closes while the handler waits
		status    int
		abandoned bool
	}{
		{name: "completed", path: "/fast", status: http.StatusOK},
		{name: "abandoned", path: "/wait", leave: true, status: 0, abandoned: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			done := make(chan hangup.Report, 1)
			abandons := make(chan hangup.Report, 1)
			entered := make(chan struct{}, 1)
			s := startServer(t, serverOpts{
				opts: []hangup.Option{
					hangup.OnDone(func(r hangup.Report) { done <- r }),
					hangup.OnAbandon(func(r hangup.Report) { abandons <- r }),
				},
				handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if r.URL.Path == "/wait" {
						entered <- struct{}{}
						<-r.Context().Done()
						return
					}
					io.WriteString(w, "ok")
				}),
			})
			c := dialTCP(t, s.addr())
			write(t, c, "GET "+tc.path+" HTTP/1.1\r\nHost: x\r\n\r\n")
			if tc.leave {
				<-entered
				c.Close()
			}
			var r hangup.Report
			select {
			case r = <-done:
			case <-time.After(waitLong):
				t.Fatal("OnDone not called")
			}
			if r.Path != tc.path || r.Status != tc.status || r.Abandoned() != tc.abandoned {
				t.Errorf("report: path %q status %d Abandoned %v, want %q %d %v", r.Path, r.Status, r.Abandoned(), tc.path, tc.status, tc.abandoned)
			}
			if d, ok := hangup.Departed(r.Context); ok != tc.abandoned || d != r.Departure {
				t.Errorf("Departed(Report.Context) = %v, %v; want the report's %v, %v", d, ok, r.Departure, tc.abandoned)
			}
			if r.Start.IsZero() || r.Elapsed <= 0 {
				t.Errorf("report: Start %v Elapsed %v, want both set", r.Start, r.Elapsed)
			}
			// OnAbandon runs before OnDone.
			if got := len(abandons) == 1; got != tc.abandoned {
				t.Errorf("OnAbandon called: %v, want %v", got, tc.abandoned)
			}
		})
	}
}
