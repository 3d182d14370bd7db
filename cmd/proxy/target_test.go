package proxy

import (
	"net/url"
	"strings"
	"testing"
)

// TestRawTarget: the upstream gets the client's request target byte for
// byte (issue 16, case 1), on the direct path (GET), through ReverseProxy
// (POST), and behind an upstream URL with a path and query of its own.
func TestRawTarget(t *testing.T) {
	targets := []string{
		"/search?q=a;b&page=2",
		"/?utm=100%&page=2",
		"/x?b=2&a=1&b=1",
		"/x?a=%zz&b=%2",
		"/a%2Fb/%7e/c%20d",
		`/a"b/{c}|d^e`,
		"/x?",
		"/x?q=a+b%20c&&=&",
		"//double//slash",
	}
	for _, tc := range []struct {
		name     string
		upstream string // path and query appended to the upstream's URL
		method   string
		prefix   func(target string) string // what the upstream gets for target
	}{
		{"direct GET", "", "GET", func(s string) string { return s }},
		{"ReverseProxy POST", "", "POST", func(s string) string { return s }},
		{"upstream with path and query", "/base?k=v", "GET", func(s string) string {
			path, query, ok := strings.Cut(s, "?")
			switch {
			case !ok:
				return "/base" + path + "?k=v"
			case query == "":
				return "/base" + path + "?k=v"
			}
			return "/base" + path + "?k=v&" + query
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := newFramingUpstream(t)
			up, _ := url.Parse(u.url.String() + tc.upstream)
			h := startProxy(t, Config{Upstream: up})
			for i, target := range targets {
				c := dial(t, h.addr)
				body := ""
				if tc.method == "POST" {
					body = "Content-Length: 2\r\n\r\nab"
				} else {
					body = "\r\n"
				}
				write(t, c, tc.method+" "+target+" HTTP/1.1\r\nHost: front.example\r\nConnection: close\r\n"+body)
				res, _ := readAnswers(t, c)
				if len(res) != 1 || res[0].status != 200 {
					t.Errorf("%s: the client got %+v", target, res)
					continue
				}
				reqs := u.waitRequests(t, i+1)
				want := tc.method + " " + tc.prefix(target) + " HTTP/1.1"
				if reqs[i].line != want {
					t.Errorf("the upstream got %q, want %q", reqs[i].line, want)
				}
			}
		})
	}
}

// TestAbsoluteFormTarget: a request in absolute form reaches the upstream
// with its path and query as sent, in origin form.
func TestAbsoluteFormTarget(t *testing.T) {
	h, u := framingProxy(t, Config{})
	for i, tc := range []struct{ target, want string }{
		{"http://front.example/q?a;b", "/q?a;b"},
		{"http://front.example?x=%", "/?x=%"},
		{"http://front.example", "/"},
	} {
		c := dial(t, h.addr)
		write(t, c, "POST "+tc.target+" HTTP/1.1\r\nHost: front.example\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx")
		if res, _ := readAnswers(t, c); len(res) != 1 || res[0].status != 200 {
			t.Fatalf("%s: the client got %+v", tc.target, res)
		}
		if got := u.waitRequests(t, i+1)[i].line; got != "POST "+tc.want+" HTTP/1.1" {
			t.Errorf("%s: the upstream got %q, want POST %s HTTP/1.1", tc.target, got, tc.want)
		}
	}
}
