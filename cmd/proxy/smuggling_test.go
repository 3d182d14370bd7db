package proxy

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
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

// FuzzProxyFraming sends any bytes through the proxy, as one client
// connection, to a framingUpstream, and checks that the proxy never
// desynchronizes it: the upstream parses everything it gets as well-framed
// requests, and the answers of the requests it got whole are exactly those
// the client got (each numbered by X-Upstream-Seq), once each. The seeds are
// the smuggling table's.
//
//	go test -run '^$' -fuzz FuzzProxyFraming -fuzztime 60s ./cmd/proxy/
func FuzzProxyFraming(f *testing.F) {
	const host = "Host: front.example\r\n"
	post := "POST /a HTTP/1.1\r\n" + host
	for _, seed := range []string{
		post + "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
		post + "Transfer-Encoding: chunked\r\nContent-Length: 40\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
		"POST /a HTTP/1.0\r\n" + host + "Connection: keep-alive\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\nhello",
		post + "Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello",
		post + "Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
		post + "Transfer-Encoding: chunked, identity\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
		post + "X-Probe: a\r\n b\r\nContent-Length: 5\r\n\r\nhello",
		post + "Transfer-Encoding:\r\n chunked\r\nContent-Length: 5\r\n\r\nhello",
		"POST /a HTTP/1.1\nHost: front.example\nContent-Length: 5\n\nhello",
		post + "Transfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n",
		post + "X-A: a\x00b\r\nContent-Length: 5\r\n\r\nhello",
		post + "Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
		post + "Transfer-Encoding: chunked\r\n\r\nfffffffffffffffff\r\nhello\r\n0\r\n\r\n",
		post + "Transfer-Encoding: chunked\r\n\r\n5;name=\"v;1\"\r\nhello\r\n0;last\r\n\r\n",
		post + "Transfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n5\r\nhello\r\n0\r\nX-Sum: 42\r\nContent-Length: 50\r\nTransfer-Encoding: chunked\r\nHost: evil.example\r\n\r\n",
		"GET /search?q=a;b&page=2 HTTP/1.1\r\n" + host + "\r\nHEAD / HTTP/1.1\r\n" + host + "\r\n",
		post + "Content-Length: 100\r\n\r\n0123456789",
		post + "Expect: 100-continue\r\nContent-Length: 5\r\n\r\nhello",
	} {
		f.Add([]byte(seed + second))
	}
	u := newFramingUpstream(f)
	// Short timeouts, so that a connection the input leaves hanging (a
	// head or a body cut short, a keep-alive) ends soon.
	const short = 100 * time.Millisecond
	p, err := New(Config{Upstream: u.url, ReadHeaderTimeout: short, IdleTimeout: short,
		ClientBodyTimeout: short, LingerTimeout: short, ShutdownTimeout: waitLong})
	if err != nil {
		f.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Serve(ctx, ln, nil) }()
	f.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			f.Errorf("Serve: %v", err)
		}
	})
	var mu sync.Mutex // one input at a time: the upstream's record is shared
	f.Fuzz(func(t *testing.T, in []byte) {
		mu.Lock()
		defer mu.Unlock()
		from := u.count()
		c, err := net.DialTimeout("tcp", ln.Addr().String(), waitLong)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		werr := make(chan error, 1)
		go func() { _, err := c.Write(in); werr <- err }()
		c.SetReadDeadline(time.Now().Add(3 * waitLong))
		answers, err := io.ReadAll(c)
		if err != nil && !isClosed(err) {
			t.Fatalf("the proxy neither answered nor closed the connection: %v", err)
		}
		<-werr // fails when the proxy closed before it read all: no matter
		reqs, bad := u.settle(t, p, from)
		if len(bad) > 0 {
			t.Fatalf("the upstream could not parse what the proxy sent: %q", bad)
		}
		// What the client asked for, as net/http's server parses it: the
		// k-th answer is to refs[k].
		refs := parseRequests(in)
		var gotSeqs []string
		br := bufio.NewReader(bytes.NewReader(answers))
		bySeq := map[string]*upReq{}
		for _, r := range reqs {
			if r.complete {
				bySeq[strconv.Itoa(r.seq)] = r
			}
		}
		for k := 0; ; {
			method := "GET"
			if k < len(refs) {
				method = refs[k].Method
			}
			res, err := http.ReadResponse(br, &http.Request{Method: method})
			if err != nil {
				break
			}
			_, err = io.Copy(io.Discard, res.Body)
			if err != nil || res.StatusCode < 200 {
				continue
			}
			if seq := res.Header.Get("X-Upstream-Seq"); seq != "" {
				gotSeqs = append(gotSeqs, seq)
				if r := bySeq[seq]; r != nil && k < len(refs) && strings.HasPrefix(refs[k].RequestURI, "/") && r.target != refs[k].RequestURI {
					t.Errorf("answer %d: the client asked for %q, the upstream got %q", k, refs[k].RequestURI, r.target)
				}
			}
			if k < len(refs) && closeAfterRef(refs[k]) && br.Buffered() > 0 {
				t.Errorf("answer %d, to a request with an ambiguous framing, did not end the connection: %q", k, answers)
			}
			k++
		}
		var want []string
		for _, r := range reqs {
			if r.complete {
				want = append(want, strconv.Itoa(r.seq))
			}
		}
		if !slices.Equal(gotSeqs, want) {
			t.Fatalf("the upstream answered %v (of %d requests), the client got %v:\n%q", want, len(reqs), gotSeqs, answers)
		}
	})
}

// parseRequests parses in as net/http's server would read requests from a
// connection, until it could not.
func parseRequests(in []byte) []*http.Request {
	var refs []*http.Request
	br := bufio.NewReader(bytes.NewReader(in))
	for {
		r, err := http.ReadRequest(br)
		if err != nil {
			return refs
		}
		refs = append(refs, r)
		if _, err := io.Copy(io.Discard, r.Body); err != nil {
			return refs
		}
	}
}

// closeAfterRef reports whether r's framing is one whose answer must end
// the connection (RFC 9112 §6.1): chunked (net/http has deleted a
// Content-Length next to it), or an HTTP/1.0 body (net/http has deleted a
// Transfer-Encoding).
func closeAfterRef(r *http.Request) bool {
	return len(r.TransferEncoding) > 0 || (r.ProtoMajor == 1 && r.ProtoMinor == 0 && r.ContentLength > 0)
}
