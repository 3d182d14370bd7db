package proxy

import (
	"errors"
	"io"
	"net/http"
)

// ErrBodyTooLarge is the cause of a request whose body is larger than
// Config.MaxBodySize. It maps to 413. A request that declares such a length
// (Content-Length) is refused before the upstream is asked; one whose body
// grows past the limit as it streams (chunked) has its upstream request
// aborted (the upstream's connection is closed, so it never sees a complete
// request) and gets 413 if nothing was answered yet.
var ErrBodyTooLarge = errors.New("proxy: the request body is larger than the proxy accepts (Config.MaxBodySize, hangup proxy --max-body-size)")

// tooLarge reports whether r declares a body longer than the limit.
func (p *Proxy) tooLarge(r *http.Request) bool {
	return p.cfg.MaxBodySize > 0 && r.ContentLength > p.cfg.MaxBodySize
}

// limitBody returns rc limited to the configured body size, or rc itself
// without a limit.
func (p *Proxy) limitBody(rc io.ReadCloser) io.ReadCloser {
	if p.cfg.MaxBodySize <= 0 {
		return rc
	}
	return &limitedBody{rc: rc, left: p.cfg.MaxBodySize}
}

// limitedBody fails with ErrBodyTooLarge once more than its limit was sent.
// Unlike http.MaxBytesReader, it leaves the connection to the linger, which
// drains what the client still sends so that the 413 reaches it whole.
type limitedBody struct {
	rc   io.ReadCloser
	left int64
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left < 0 {
		return 0, ErrBodyTooLarge
	}
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.rc.Read(p)
	if int64(n) > b.left {
		n, b.left = int(b.left), -1
		return n, ErrBodyTooLarge
	}
	b.left -= int64(n)
	return n, err
}

func (b *limitedBody) Close() error { return b.rc.Close() }
