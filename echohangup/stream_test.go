package echohangup_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hangup-dev/hangup"
	"github.com/hangup-dev/hangup/internal/adaptertest"
	"github.com/labstack/echo/v4"
)

// TestWriterInterfaces: the writer an Echo handler finds in
// c.Response().Writer, the one Echo's documentation asserts http.Pusher on
// for server push, has exactly the optional interfaces of net/http's, over
// HTTP/1, HTTP/2 over TLS and h2c, and Unwrap reaches net/http's.
func TestWriterInterfaces(t *testing.T) {
	for _, tr := range adaptertest.Transports {
		t.Run(tr.Name, func(t *testing.T) {
			type seen struct {
				set     adaptertest.Ifaces
				reaches bool
			}
			got := make(chan seen, 1)
			e := echo.New()
			e.GET("/", func(c echo.Context) error {
				w := c.Response().Writer
				got <- seen{adaptertest.IfacesOf(w), adaptertest.Reaches(w, adaptertest.RawWriter(c.Request().Context()))}
				return c.NoContent(http.StatusNoContent)
			})
			url, client, _ := tr.Serve(t, e, true)
			res, err := client.Get(url)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			s := adaptertest.Await(t, got, "handler ran")
			if s.set != tr.Want {
				t.Errorf("c.Response().Writer has %v, net/http's has %v", s.set, tr.Want)
			}
			if !s.reaches {
				t.Error("Unwrap does not reach net/http's writer")
			}
		})
	}
}

// TestStream: Echo's c.Stream answers 200 with the whole body, and an
// SSE-style handler (write, c.Response().Flush(), wait) streams and stops
// when its client leaves, its context cancelled with ErrClientGone, over
// HTTP/1, HTTP/2 over TLS and h2c.
func TestStream(t *testing.T) {
	for _, tr := range adaptertest.Transports {
		t.Run(tr.Name, func(t *testing.T) {
			causes := make(chan error, 1)
			e := echo.New()
			e.GET("/whole", func(c echo.Context) error {
				return c.Stream(http.StatusOK, "text/plain", strings.NewReader(adaptertest.Events(3)))
			})
			e.GET("/sse", func(c echo.Context) error {
				w := c.Response()
				w.Header().Set(echo.HeaderContentType, "text/event-stream")
				w.WriteHeader(http.StatusOK)
				ctx := c.Request().Context()
				stop := time.After(adaptertest.WaitLong) // should the context never end
				for i := 0; ; i++ {
					fmt.Fprintf(w, "event %d\n", i)
					w.Flush()
					select {
					case <-ctx.Done():
						causes <- context.Cause(ctx)
						return nil
					case <-stop:
						causes <- errors.New("the context never ended")
						return nil
					case <-time.After(time.Millisecond): // a ticker's pace
					}
				}
			})
			url, client, _ := tr.Serve(t, e, true)

			s := adaptertest.OpenStream(t, client, url+"/whole")
			if body, want := s.Rest(), adaptertest.Events(3); body != want {
				t.Errorf("body %q, want %q", body, want)
			}

			s = adaptertest.OpenStream(t, client, url+"/sse")
			s.WantLines("event 0", "event 1", "event 2")
			s.Leave()
			if cause := adaptertest.Await(t, causes, "handler returned"); !errors.Is(cause, hangup.ErrClientGone) {
				t.Errorf("cause %v, want ErrClientGone", cause)
			}
		})
	}
}
