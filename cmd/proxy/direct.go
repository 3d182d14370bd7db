package proxy

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/http"
	"net/textproto"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/hangup-dev/hangup"
)

// The direct path. A body-less GET or HEAD, the bulk of what a proxy sees,
// to an http:// upstream through the default Transport, is forwarded by
// forwardDirect rather than httputil.ReverseProxy: the upstream request is
// written straight from the client's (no copy of the request and its
// headers, no header sorting), on a connection of h1Transport, and the
// answer's headers are moved, not copied, into the client's response. What
// goes upstream and what comes back is what ReverseProxy with p.rewrite
// makes of the same request; TestDirectMatchesReverseProxy holds the two
// side by side. Everything else (bodies, upgrades, HTTP/2 or custom
// Transports, upstream URLs with a path or query, coalesced requests) goes
// through ReverseProxy.

// direct reports whether r takes the direct path: every backend of the
// pool can (forward also asks the request's own, which a reload may have
// left out of the pool).
func (p *Proxy) direct(r *http.Request) bool {
	if !p.directOK || !p.pool().direct {
		return false
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
	default:
		return false
	}
	if r.ContentLength != 0 || (r.Body != nil && r.Body != http.NoBody) || len(r.TransferEncoding) != 0 {
		return false
	}
	if _, up := r.Header["Upgrade"]; up {
		return false
	}
	u := r.URL
	return u.Opaque == "" && u.User == nil && r.RequestURI != "*"
}

// h1Upstream reports whether requests to u may go through h1Transport: u
// is http://, and no HTTP proxy from the environment (HTTP_PROXY, NO_PROXY)
// applies to it.
func h1Upstream(u *url.URL) bool {
	if u.Scheme != "http" {
		return false
	}
	via, err := http.ProxyFromEnvironment(&http.Request{URL: u})
	return err == nil && via == nil
}

// directUpstream reports whether requests to u, an h1Upstream, may take the
// direct path: u has no path beyond "/" and no query, which the upstream
// request would have to merge with the client's.
func directUpstream(u *url.URL) bool {
	return (u.Path == "" || u.Path == "/") && u.RawPath == "" && u.RawQuery == "" && !u.ForceQuery
}

// hopHeaders are removed from requests and answers, as by ReverseProxy,
// along with the headers that Connection names.
var hopHeaders = []string{
	"Connection",
	"Proxy-Connection",
	"Keep-Alive",
	"Proxy-Authenticate",
	"Proxy-Authorization",
	"Te",
	"Trailer",
	"Transfer-Encoding",
	"Upgrade",
}

// forwardingHeaders are the client's, replaced by the proxy's own.
var forwardingHeaders = []string{"Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto"}

// writeForwarded writes the upstream request for r, a direct request, to
// bw: r's method and target, the Host f gives, r's headers without the
// hop-by-hop and forwarding ones, Te: trailers if r had it, and the
// X-Forwarded headers f gives.
func writeForwarded(bw *bufio.Writer, r *http.Request, f *forwarding) error {
	bw.WriteString(r.Method)
	bw.WriteByte(' ')
	// The client's target as it sent it (target.go); the direct path has
	// no upstream path to put in front of it (directUpstream).
	if path, query, hasQuery, ok := upstreamTarget(nil, r); ok {
		bw.WriteString(path)
		if hasQuery {
			bw.WriteByte('?')
			bw.WriteString(query)
		}
	} else {
		if path := r.URL.EscapedPath(); path != "" {
			bw.WriteString(path)
		} else {
			bw.WriteByte('/')
		}
		if r.URL.RawQuery != "" || r.URL.ForceQuery {
			bw.WriteByte('?')
			bw.WriteString(r.URL.RawQuery)
		}
	}
	bw.WriteString(" HTTP/1.1\r\nHost: ")
	bw.WriteString(f.host(r))
	bw.WriteString("\r\n")
	named := connectionNamed(r.Header)
	if ua := r.Header.Get("User-Agent"); ua != "" && !slices.Contains(named, "User-Agent") {
		// Once, and not empty, as Request.Write has it.
		bw.WriteString("User-Agent: ")
		bw.WriteString(ua)
		bw.WriteString("\r\n")
	}
	for k, vv := range r.Header {
		if skipForwarded(k, named) {
			continue
		}
		for _, v := range vv {
			bw.WriteString(k)
			bw.WriteString(": ")
			bw.WriteString(v)
			bw.WriteString("\r\n")
		}
	}
	if hasToken(r.Header["Te"], "trailers") {
		bw.WriteString("Te: trailers\r\n")
	}
	xff, xfh, xfp := f.xForwarded(r)
	if xff != "" {
		bw.WriteString("X-Forwarded-For: ")
		bw.WriteString(xff)
		bw.WriteString("\r\n")
	}
	bw.WriteString("X-Forwarded-Host: ")
	bw.WriteString(xfh)
	bw.WriteString("\r\nX-Forwarded-Proto: ")
	bw.WriteString(xfp)
	bw.WriteString("\r\n\r\n")
	return nil
}

func skipForwarded(k string, named []string) bool {
	for _, h := range hopHeaders {
		if k == h {
			return true
		}
	}
	for _, h := range forwardingHeaders {
		if k == h {
			return true
		}
	}
	for _, h := range named {
		if k == h {
			return true
		}
	}
	// Request.Write writes these from the request's fields, not its Header:
	// a body-less request has no length, and User-Agent goes first.
	return k == "Host" || k == "Content-Length" || k == "User-Agent"
}

// connectionNamed returns the canonical names of the headers that h's
// Connection headers list; nil if none.
func connectionNamed(h http.Header) []string {
	var named []string
	for _, f := range h["Connection"] {
		for sf := range strings.SplitSeq(f, ",") {
			if sf = textproto.TrimString(sf); sf != "" {
				named = append(named, textproto.CanonicalMIMEHeaderKey(sf))
			}
		}
	}
	return named
}

// removeHopByHop removes the hop-by-hop headers from h.
func removeHopByHop(h http.Header) {
	for _, k := range connectionNamed(h) {
		delete(h, k)
	}
	for _, k := range hopHeaders {
		delete(h, k)
	}
}

// copyHeader adds src's values to dst; a header dst does not have takes
// src's slice as it is.
func copyHeader(dst, src http.Header) {
	for k, vv := range src {
		if old, ok := dst[k]; ok {
			dst[k] = append(old, vv...)
		} else {
			dst[k] = vv
		}
	}
}

// forwardDirect forwards r, for which direct is true, and writes the answer
// to w, as ReverseProxy would.
func (p *Proxy) forwardDirect(w http.ResponseWriter, r *http.Request, rec *record) {
	t := p.transport
	start := rec.start // a moment ago: no need to ask the clock
	if rec.queued {
		start = time.Time{} // it waited: now
	}
	deadline := t.deadline(start)
	b := p.pool().backendOf(rec)
	var (
		res   *http.Response
		err   error
		tried []*backend
	)
	for b != nil {
		var raw error
		res, raw = b.h1.roundTrip(r, deadline, w)
		res, err = t.account(r.Context(), rec, b, nil, res, raw)
		b = p.pool().after(r, rec, b, err, raw, &tried, true)
	}
	if err != nil {
		p.answerError(w, rec, err)
		return
	}
	removeHopByHop(res.Header)
	h := w.Header()
	copyHeader(h, res.Header)
	announced := len(res.Trailer)
	if announced > 0 {
		keys := make([]string, 0, announced)
		for k := range res.Trailer {
			keys = append(keys, k)
		}
		h.Add("Trailer", strings.Join(keys, ", "))
	}
	w.WriteHeader(res.StatusCode)

	var (
		rc  *http.ResponseController
		out io.Writer = w
	)
	switch immediate, interval := p.flushMode(res); {
	case immediate:
		// A body of unknown length, server-sent events, or FlushInterval
		// -1: each part goes out as it comes, the head at once (as
		// ReverseProxy does; see flush.go).
		rc = http.NewResponseController(w)
		rc.Flush()
	case interval > 0:
		d := newDelayedFlusher(w, interval)
		defer d.stop() // (also before a panic below)
		out = d
	}
	err = p.copyBody(out, res.Body, rc)
	if d, ok := out.(*delayedFlusher); ok {
		d.stop() // before the trailers touch w
	}
	if err != nil {
		res.Body.Close()
		if r.Context().Value(http.ServerContextKey) == nil {
			return // not under net/http, which would recover the panic
		}
		// The answer is cut short: net/http must not end it as if whole.
		panic(http.ErrAbortHandler)
	}
	res.Body.Close() // fills res.Trailer
	if len(res.Trailer) > 0 {
		// Chunked, so that the trailers can follow.
		http.NewResponseController(w).Flush()
	}
	if len(res.Trailer) == announced {
		copyHeader(h, res.Trailer)
		return
	}
	for k, vv := range res.Trailer {
		for _, v := range vv {
			h.Add(http.TrailerPrefix+k, v)
		}
	}
}

// eventStream reports whether the media type of ct is text/event-stream.
func eventStream(ct string) bool {
	const es = "text/event-stream"
	if len(ct) < len(es) || !strings.EqualFold(ct[:len(es)], es) {
		return false
	}
	rest := strings.TrimLeft(ct[len(es):], " \t")
	return rest == "" || rest[0] == ';'
}

// copyBody copies an answer's body to w, flushing after each part if rc is
// not nil. It returns the first error of either side; a read error is
// logged unless the client left.
func (p *Proxy) copyBody(w io.Writer, body io.Reader, rc *http.ResponseController) error {
	bp := bufs32k.Get().(*[]byte)
	defer bufs32k.Put(bp)
	buf := *bp
	for {
		n, rerr := body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return werr
			}
			if rc != nil {
				if werr := rc.Flush(); werr != nil {
					return werr
				}
			}
		}
		if rerr == nil {
			continue
		}
		if rerr == io.EOF {
			return nil
		}
		if !errors.Is(rerr, context.Canceled) && !errors.Is(rerr, hangup.ErrClientGone) {
			p.rp.ErrorLog.Printf("proxy: reading the upstream's answer: %v", rerr)
		}
		return rerr
	}
}
