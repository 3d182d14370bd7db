package proxy

import (
	"crypto/tls"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestUpstreamKindErrors: New refuses an upstream kind that the
// configuration cannot serve, with an error that says what to change.
func TestUpstreamKindErrors(t *testing.T) {
	parse := func(s string) *url.URL { u, _ := url.Parse(s); return u }
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"UpstreamTLS with a Transport", Config{Upstream: parse("https://a:1"), UpstreamTLS: &tls.Config{}, Transport: http.DefaultTransport},
			"UpstreamTLS applies to the proxy's own Transport; with Config.Transport set, give the TLS settings to that Transport"},
		{"unix with a Transport", Config{Upstream: parse("unix:/a.sock"), Transport: http.DefaultTransport},
			"a unix socket needs the proxy's own Transport"},
		{"h2c with a Transport", Config{Upstream: parse("h2c://a:1"), Transport: http.DefaultTransport},
			"h2c needs the proxy's own Transport"},
		{"unknown scheme", Config{Upstream: parse("ftp://a:1")}, "the scheme must be http, https, h2c or unix"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New: %v, want an error that says %q", err, tc.want)
			}
		})
	}
}
