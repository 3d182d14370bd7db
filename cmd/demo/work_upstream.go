package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hangup-dev/hangup"
)

// upstreamWork calls a slow HTTP service, which the demo runs itself on
// loopback. The call carries the request's context: when the client leaves,
// the call is aborted, its connection closed, and the upstream (guarded by
// hangup too) sees its own request cancelled.
type upstreamWork struct {
	srv    *http.Server
	url    string
	client *http.Client
	done   chan struct{} // closed when srv.Serve returned
	// cancelled is told when the upstream saw a request of the demo's
	// cancelled: the demo's request id and how long the upstream had run.
	cancelled func(id uint64, ran time.Duration, d hangup.Departure)
}

// startUpstream starts the slow upstream service on loopback.
func startUpstream(log *slog.Logger, cancelled func(id uint64, ran time.Duration, d hangup.Departure)) (*upstreamWork, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("upstream: %w", err)
	}
	u := &upstreamWork{
		url:       "http://" + ln.Addr().String(),
		done:      make(chan struct{}),
		cancelled: cancelled,
		client: &http.Client{Transport: &http.Transport{
			Proxy:               nil,
			MaxIdleConnsPerHost: 64,
			IdleConnTimeout:     30 * time.Second,
		}},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /work", func(w http.ResponseWriter, r *http.Request) {
		secs, _ := strconv.ParseFloat(r.URL.Query().Get("seconds"), 64)
		id, _ := strconv.ParseUint(r.URL.Query().Get("id"), 10, 64)
		ulog := log.With("id", id, "side", "upstream")
		start := time.Now()
		t := time.NewTimer(time.Duration(secs * float64(time.Second)))
		defer t.Stop()
		select {
		case <-t.C:
			fmt.Fprintf(w, "upstream worked %g s", secs)
		case <-r.Context().Done():
			d, _ := hangup.Departed(r.Context())
			ran := time.Since(start)
			ulog.Info("upstream: its caller hung up, request cancelled",
				"ran", ran.Round(time.Millisecond), "reason", d.Reason, "phase", d.Phase)
			if u.cancelled != nil {
				u.cancelled(id, ran, d)
			}
		}
	})
	u.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	hangup.Install(u.srv)
	go func() {
		defer close(u.done)
		u.srv.Serve(ln)
	}()
	return u, nil
}

func (u *upstreamWork) do(ctx context.Context, id uint64, d time.Duration) (string, error) {
	url := fmt.Sprintf("%s/work?seconds=%g&id=%d", u.url, d.Seconds(), id)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := u.client.Do(req)
	if err != nil {
		return "", fmt.Errorf("upstream call: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if err != nil {
		return "", fmt.Errorf("upstream call: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("upstream answered %s", resp.Status)
	}
	return "upstream answered: " + strings.TrimSpace(string(b)), nil
}

// close stops the upstream service; by then no call runs any more.
func (u *upstreamWork) close() error {
	// The client's idle connections first: one dialed for a call cancelled
	// before it was sent goes to the pool unused, and the server would see
	// a connection that never sent a request, which Shutdown waits 5 s for
	// (Go issue 22682), past its deadline.
	u.client.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := u.srv.Shutdown(ctx)
	if err != nil {
		err = errors.Join(err, u.srv.Close())
	}
	<-u.done
	u.client.CloseIdleConnections()
	return err
}
