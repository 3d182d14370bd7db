package proxy

import (
	"net/http"
	"net/url"
	"strings"
)

// The request target (issue 16, case 1). The upstream gets the client's
// request target byte for byte, path and query, behind the upstream URL's own
// path and query if it has any, as nginx's proxy_pass without a URI forwards
// it. httputil.ReverseProxy does not: with Rewrite, it re-encodes a query
// with a semicolon or a bad escape through url.ParseQuery (cleanQueryParams),
// which drops those parameters and sorts the rest (`?q=a;b&page=2` arrives as
// `?page=2`), and it writes the path from url.URL, which escapes again what
// the client left unescaped (`/a"b` arrives as `/a%22b`). Both change what
// the application sees; neither is the proxy's business. So the target is
// taken from Request.RequestURI, the request line as the client sent it, and
// both paths (rewrite for ReverseProxy, writeForwarded for the direct path)
// get it from upstreamTarget.

// upstreamTarget returns the request target for the upstream request made
// for r, the client's request: up's path and query joined with r's raw path
// and query. ok is false for a target that is not a path (authority-form,
// "*", or none): those keep what url.URL makes of them.
func upstreamTarget(up *url.URL, r *http.Request) (path, query string, hasQuery, ok bool) {
	raw := r.RequestURI
	if r.URL.Scheme != "" && r.URL.Host != "" {
		// absolute-form (RFC 9112 §3.2.2): what follows the authority.
		i := strings.Index(raw, "://")
		if i < 0 {
			return "", "", false, false
		}
		raw = raw[i+3:]
		if j := strings.IndexAny(raw, "/?"); j >= 0 {
			raw = raw[j:]
		} else {
			raw = ""
		}
		if raw == "" || raw[0] == '?' {
			raw = "/" + raw
		}
	}
	if raw == "" || raw[0] != '/' {
		return "", "", false, false
	}
	path, query, hasQuery = strings.Cut(raw, "?")
	if up != nil {
		path = joinRawPath(up.EscapedPath(), path)
		switch {
		case up.RawQuery == "":
		case query == "":
			query, hasQuery = up.RawQuery, true
		default:
			query = up.RawQuery + "&" + query
		}
	}
	return path, query, hasQuery, true
}

// joinRawPath joins the upstream's path and the client's with one slash
// between them, as httputil's joinURLPath does with escaped paths.
func joinRawPath(base, path string) string {
	if base == "" || base == "/" {
		return path
	}
	switch bs, ps := strings.HasSuffix(base, "/"), strings.HasPrefix(path, "/"); {
	case bs && ps:
		return base + path[1:]
	case !bs && !ps:
		return base + "/" + path
	}
	return base + path
}

// setRawTarget makes out, the upstream request's URL, carry the target
// upstreamTarget gives for in. url.URL writes its Opaque as the path
// unchanged (RequestURI), so the raw path goes there; except for a path that
// begins with "//", which RequestURI would turn into a scheme and an
// authority: that one goes in RawPath, which url.URL keeps when it is a valid
// escaping of Path (it always is for a path net/http's server accepted,
// except for bytes that must be escaped, which are then escaped).
//
// Through a forward proxy (viaProxy), the request line must be absolute-form,
// which url.URL writes only without an Opaque: the raw path then goes in
// RawPath too, and a byte that must be escaped there is escaped.
func setRawTarget(out *url.URL, up *url.URL, in *http.Request, viaProxy bool) {
	path, query, hasQuery, ok := upstreamTarget(up, in)
	if !ok {
		return
	}
	if viaProxy || strings.HasPrefix(path, "//") {
		if p, err := url.PathUnescape(path); err == nil {
			out.Path, out.RawPath = p, path
		}
	} else {
		out.Opaque = path
	}
	out.RawQuery = query
	out.ForceQuery = hasQuery && query == ""
}

// forwardProxied reports whether rt, an *http.Transport, sends requests for
// up through a forward proxy (its Proxy func, HTTP_PROXY and NO_PROXY for
// the default Transport). Another RoundTripper is taken to send them
// straight.
func forwardProxied(rt http.RoundTripper, up *url.URL) bool {
	t, ok := rt.(*http.Transport)
	if !ok || t.Proxy == nil {
		return false
	}
	via, err := t.Proxy(&http.Request{Method: http.MethodGet, URL: up, Header: http.Header{}})
	return err == nil && via != nil
}
