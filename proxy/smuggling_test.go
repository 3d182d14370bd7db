package proxy

import (
	"net/http"
	"reflect"
	"strings"
	"testing"
)

// second is pipelined behind each request of the smuggling table: it is
// answered only if the connection was kept open.
const second = "GET /second HTTP/1.1\r\nHost: front.example\r\nConnection: close\r\n\r\n"

// want is what the upstream must have got for one request.
type want struct {
	target   string
	framing  string
	body     string
	trailer  http.Header
	complete bool
	probe    string // the X-Probe header
}

func got(r *upReq) want {
	return want{r.target, r.framing, r.body, r.trailer, r.complete, r.header.Get("X-Probe")}
}

func whole(target, framing, body string) want { return want{target, framing, body, nil, true, ""} }

var secondSeen = whole("/second", "none", "")

// cut is, in the smuggling table, "the upstream got nothing, or the head of
// /a and then its connection closed": never a whole request.
var cut = []want{{"/a", "chunked", "", nil, false, ""}}

// TestSmuggling: the request framings that desynchronize proxies and
// servers (RFC 9112 §6, §11.2; PortSwigger's request smuggling), each sent
// raw with a second request pipelined behind it. For each: the statuses the
// client gets (a second answer means the connection was kept open), and
// exactly what the upstream got. Nothing the upstream gets may be read by it
// otherwise than the proxy meant.
func TestSmuggling(t *testing.T) {
	const host = "Host: front.example\r\n"
	post := "POST /a HTTP/1.1\r\n" + host
	for _, tc := range []struct {
		name   string
		raw    string
		status []int  // the answers, in order
		up     []want // or cut
	}{
		// RFC 9112 §6.1: Transfer-Encoding wins, and the connection is
		// closed after the answer: the second request is never read.
		{"CL+TE", post + "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
			[]int{200}, []want{whole("/a", "chunked", "hello")}},
		{"TE+CL", post + "Transfer-Encoding: chunked\r\nContent-Length: 40\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
			[]int{200}, []want{whole("/a", "chunked", "hello")}},
		{"CL+TE, HTTP/1.0 keep-alive", "POST /a HTTP/1.0\r\n" + host + "Connection: keep-alive\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\nhello",
			[]int{200}, []want{whole("/a", "length=5", "hello")}},
		{"chunked alone", post + "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
			[]int{200}, []want{whole("/a", "chunked", "hello")}},
		// RFC 9110 §8.6: the same length twice is one length; two are an
		// error.
		{"duplicate CL, same", post + "Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello",
			[]int{200, 200}, []want{whole("/a", "length=5", "hello"), secondSeen}},
		{"duplicate CL, different", post + "Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
			[]int{400}, nil},
		{"CL list", post + "Content-Length: 5, 5\r\n\r\nhello",
			[]int{400}, nil},
		{"CL not a number", post + "Content-Length: +5\r\n\r\nhello",
			[]int{400}, nil},
		// RFC 9112 §6.1: chunked must be the last coding; anything else is
		// 501.
		{"TE chunked, identity", post + "Transfer-Encoding: chunked, identity\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
			[]int{501}, nil},
		{"TE twice", post + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
			[]int{501}, nil},
		{"TE xchunked", post + "Transfer-Encoding: xchunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
			[]int{501}, nil},
		// RFC 9112 §5.2: obs-fold is rejected (400) or unfolded; net/http
		// unfolds. Folded into Transfer-Encoding, it is chunked, and "hello"
		// no chunk size.
		{"obs-fold", post + "X-Probe: a\r\n b\r\nContent-Length: 5\r\n\r\nhello",
			[]int{200, 200}, []want{{"/a", "length=5", "hello", nil, true, "a b"}, secondSeen}},
		{"obs-fold on TE", post + "Transfer-Encoding:\r\n chunked\r\nContent-Length: 5\r\n\r\nhello",
			[]int{400}, cut},
		{"space before colon", post + "Transfer-Encoding : chunked\r\nContent-Length: 5\r\n\r\nhello",
			[]int{400}, nil},
		// RFC 9112 §2.2: a bare LF may end a header line, never a chunk
		// line (golang/go#71988).
		{"bare LF in the head", "POST /a HTTP/1.1\n" + strings.TrimSuffix(host, "\r\n") + "\nContent-Length: 5\n\nhello",
			[]int{200, 200}, []want{whole("/a", "length=5", "hello"), secondSeen}},
		{"bare LF in a chunk line", post + "Transfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n",
			[]int{400}, cut},
		{"NUL in a header", post + "X-A: a\x00b\r\nContent-Length: 5\r\n\r\nhello",
			[]int{400}, nil},
		{"NUL in the target", "GET /a\x00b HTTP/1.1\r\n" + host + "\r\n",
			[]int{400}, nil},
		// The chunk size: bad, or past int64.
		{"invalid chunk size", post + "Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
			[]int{400}, cut},
		{"oversized chunk size", post + "Transfer-Encoding: chunked\r\n\r\nfffffffffffffffff\r\nhello\r\n0\r\n\r\n",
			[]int{400}, cut},
		{"negative chunk size", post + "Transfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n",
			[]int{400}, cut},
		// Chunk extensions are read past, not forwarded.
		{"chunk extension", post + "Transfer-Encoding: chunked\r\n\r\n5;name=\"v;1\"\r\nhello\r\n0;last\r\n\r\n",
			[]int{200}, []want{whole("/a", "chunked", "hello")}},
		// Trailers: framing and routing fields never cross (RFC 9110
		// §6.5.1), declared or not; the declared others do.
		{"trailer declared Content-Length", post + "Transfer-Encoding: chunked\r\nTrailer: Content-Length\r\n\r\n5\r\nhello\r\n0\r\nContent-Length: 50\r\n\r\n",
			[]int{400}, nil},
		{"trailer declared Transfer-Encoding", post + "Transfer-Encoding: chunked\r\nTrailer: Transfer-Encoding\r\n\r\n5\r\nhello\r\n0\r\nTransfer-Encoding: chunked\r\n\r\n",
			[]int{400}, nil},
		{"trailer declared Host", post + "Transfer-Encoding: chunked\r\nTrailer: Host, X-Sum\r\n\r\n5\r\nhello\r\n0\r\nHost: evil.example\r\nX-Sum: 42\r\n\r\n",
			[]int{200}, []want{{"/a", "chunked", "hello", http.Header{"X-Sum": {"42"}}, true, ""}}},
		{"trailer undeclared framing fields", post + "Transfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n5\r\nhello\r\n0\r\nX-Sum: 42\r\nContent-Length: 50\r\nTransfer-Encoding: chunked\r\nHost: evil.example\r\n\r\n",
			[]int{200}, []want{{"/a", "chunked", "hello", http.Header{"X-Sum": {"42"}}, true, ""}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, u := framingProxy(t, Config{})
			c := dial(t, h.addr)
			write(t, c, tc.raw+second)
			res, closed := readAnswers(t, c)
			if !closed {
				t.Fatal("the connection was neither answered to the end nor closed")
			}
			var status []int
			for _, r := range res {
				status = append(status, r.status)
			}
			if !reflect.DeepEqual(status, tc.status) {
				t.Errorf("the client got %v, want %v", status, tc.status)
			}
			reqs, bad := u.settle(t, h.p, 0)
			if len(bad) > 0 {
				t.Errorf("the upstream could not parse what it got: %q", bad)
			}
			var ups []want
			for _, r := range reqs {
				ups = append(ups, got(r))
			}
			if tc.up != nil && &tc.up[0] == &cut[0] {
				// The body went wrong before its first byte: the Transport
				// may or may not have sent the head already.
				if len(ups) == 0 || (len(ups) == 1 && reflect.DeepEqual(ups[0], cut[0])) {
					return
				}
			}
			if !reflect.DeepEqual(ups, tc.up) {
				t.Errorf("the upstream got\n\t%+v\nwant\n\t%+v", ups, tc.up)
			}
		})
	}
}
