package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/hangup-dev/hangup"
)

func init() {
	register("demo", "the cancellation demo: a slow page whose work stops when the browser gives up", runDemo)
}

// runDemo is the seed's demo server, with hangup installed.
func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", ":8888", "address to listen on")
	if err := fs.Parse(args); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stdout, nil))
	mux := http.NewServeMux()
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		log.Info("received", "client", r.RemoteAddr, "url", r.URL.String())
		for i := 1; i <= 10; i++ {
			select {
			case <-r.Context().Done():
				d, _ := hangup.Departed(r.Context())
				log.Info("cancelled", "after_s", i-1, "reason", context.Cause(r.Context()), "phase", d.Phase)
				return
			case <-time.After(time.Second):
				log.Info("working", "progress", fmt.Sprintf("%d/10", i))
			}
		}
		log.Info("completed")
		fmt.Fprintln(w, "done after 10 seconds")
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, `<a href="/slow" target="_blank">open the slow page, then close its tab</a>`)
	})
	srv := &http.Server{Addr: *addr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	hangup.Install(srv)
	go func() {
		<-ctx.Done()
		shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(shut)
	}()
	log.Info("demo listening", "url", "http://localhost"+*addr)
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
