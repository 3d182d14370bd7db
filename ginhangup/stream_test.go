package ginhangup_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/hangup-dev/hangup"
	"github.com/hangup-dev/hangup/internal/adaptertest"
)

// TestStream: Gin's c.Stream on the documented setup (hangup.Install on a
// server whose handler is a gin engine), over HTTP/1, HTTP/2 over TLS and
// h2c. A whole stream answers 200 with its body: c.Stream asserts
// http.CloseNotifier on the writer, so a wrapper without it made Gin's
// Recovery answer 500. An endless stream stops when its client leaves:
// c.Stream waits on CloseNotify alone, which must fire then, with the
// request's context cancelled with ErrClientGone.
func TestStream(t *testing.T) {
	for _, tr := range adaptertest.Transports {
		t.Run(tr.Name, func(t *testing.T) {
			type result struct {
				clientGone bool // what c.Stream returned
				cause      error
			}
			results := make(chan result, 1)
			r := gin.New()
			r.Use(gin.Recovery())
			r.GET("/whole", func(c *gin.Context) {
				i := 0
				c.Stream(func(w io.Writer) bool {
					fmt.Fprintf(w, "event %d\n", i)
					i++
					return i < 3
				})
			})
			r.GET("/endless", func(c *gin.Context) {
				i := 0
				stop := time.Now().Add(adaptertest.WaitLong) // should CloseNotify never fire
				gone := c.Stream(func(w io.Writer) bool {
					fmt.Fprintf(w, "event %d\n", i)
					i++
					time.Sleep(time.Millisecond) // a ticker's pace
					return time.Now().Before(stop)
				})
				results <- result{gone, context.Cause(c.Request.Context())}
			})
			url, client, _ := tr.Serve(t, r, true)

			s := adaptertest.OpenStream(t, client, url+"/whole")
			if body, want := s.Rest(), adaptertest.Events(3); body != want {
				t.Errorf("body %q, want %q", body, want)
			}

			s = adaptertest.OpenStream(t, client, url+"/endless")
			s.WantLines("event 0", "event 1", "event 2")
			s.Leave()
			res := adaptertest.Await(t, results, "c.Stream returned")
			if !res.clientGone {
				t.Error("c.Stream ran on after the client left: CloseNotify never fired")
			}
			if !errors.Is(res.cause, hangup.ErrClientGone) {
				t.Errorf("cause %v, want ErrClientGone", res.cause)
			}
		})
	}
}
