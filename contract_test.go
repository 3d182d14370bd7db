package hangup_test

import (
	"context"
	"errors"
	"net/http"
	"runtime"
	"testing"
	"time"

	"github.com/hangup-dev/hangup"
)

type valueKey struct{}

// TestContextContract: the handler's context behaves as a context must,
// whatever is asked of it first — context.Cause before Done, derived
// contexts cancelled with the same cause and without a goroutine each,
// values from the connection and from net/http.
func TestContextContract(t *testing.T) {
	type check func(t *testing.T, ctx context.Context) func(t *testing.T)
	cases := []struct {
		name  string
		check check
	}{
		{"cause-first", func(t *testing.T, ctx context.Context) func(*testing.T) {
			return func(t *testing.T) {
				waitFor(t, func() bool { return ctx.Err() != nil }, "Err after the client left")
				if err := context.Cause(ctx); !errors.Is(err, hangup.ErrClientGone) {
					t.Errorf("Cause = %v, want ErrClientGone", err)
				}
			}
		}},
		{"derived-with-cancel", func(t *testing.T, ctx context.Context) func(*testing.T) {
			before := runtime.NumGoroutine()
			child, cancel := context.WithTimeout(ctx, time.Hour)
			grandchild, cancel2 := context.WithCancel(context.WithValue(child, valueKey{}, 1))
			if n := runtime.NumGoroutine(); n > before {
				t.Errorf("deriving contexts started %d goroutines", n-before)
			}
			return func(t *testing.T) {
				defer cancel()
				defer cancel2()
				select {
				case <-grandchild.Done():
				case <-time.After(waitLong):
					t.Fatal("derived context not cancelled")
				}
				if err := context.Cause(grandchild); !errors.Is(err, hangup.ErrClientGone) {
					t.Errorf("derived Cause = %v, want ErrClientGone", err)
				}
			}
		}},
		{"values", func(t *testing.T, ctx context.Context) func(*testing.T) {
			if ctx.Value(http.ServerContextKey) == nil || ctx.Value(http.LocalAddrContextKey) == nil {
				t.Error("net/http's context values are missing")
			}
			if ctx.Value(valueKey{}) != nil {
				t.Error("a value that nobody set is present")
			}
			return func(t *testing.T) {}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var after func(*testing.T)
			done := make(chan struct{})
			entered := make(chan struct{})
			s := startServer(t, serverOpts{handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				after = tc.check(t, r.Context())
				close(entered)
				<-done
			})})
			c := dialTCP(t, s.addr())
			write(t, c, reqGET)
			<-entered
			c.Close()
			after(t)
			close(done)
		})
	}
}
