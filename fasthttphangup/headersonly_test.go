package fasthttphangup_test

import (
	"strings"
	"testing"
	"time"

	"github.com/hangup-dev/hangup/fasthttphangup"
	"github.com/valyala/fasthttp"
)

// A HEAD handler that answers with headers only (status 200, Content-Length
// of the resource, no body), for a client that sent its request and
// half-closed (nc -N): plain fasthttp delivers the answer, and so must the
// Guard; headers alone are an answer, not fasthttp's empty 200.
func TestHeadersOnlyAnswerDelivered(t *testing.T) {
	h := func(fctx *fasthttp.RequestCtx) {
		time.Sleep(20 * time.Millisecond) // some work
		fctx.Response.Header.Set("X-Result", "written-by-handler")
		fctx.Response.Header.Set("ETag", `"v1"`)
	}
	const req = "GET /x HTTP/1.0\r\nHost: test\r\n\r\n"
	want := halfCloseAndRead(t, serve(t, quietServer(h)), req)
	if !strings.Contains(want, "written-by-handler") {
		t.Fatalf("plain fasthttp sent %q", want)
	}
	s := quietServer(h)
	fasthttphangup.Install(s)
	addr := serve(t, s)
	lost := 0
	for i := 0; i < 50; i++ {
		if got := halfCloseAndRead(t, addr, req); got != want {
			if lost++; lost == 1 {
				t.Logf("trial %d: got %q, want %q", i, got, want)
			}
		}
	}
	if lost > 0 {
		t.Errorf("%d of 50 headers-only answers lost (plain fasthttp delivers them)", lost)
	}
}
