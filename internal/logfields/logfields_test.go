package logfields

import (
	"strings"
	"testing"
)

func TestSaneRequestID(t *testing.T) {
	for _, tc := range []struct {
		name string
		id   string
		want bool
	}{
		{"uuid", "7fb3693f-4061-4070-95d4-3889aa8a22a5", true},
		{"nginx hex", "f2b4a1d0c3e5f60718293a4b5c6d7e8f", true},
		{"base64 and path", "svc/AbC+dE==@x:1_2.3", true},
		{"longest", strings.Repeat("a", MaxRequestIDLen), true},
		{"empty", "", false},
		{"too long", strings.Repeat("a", MaxRequestIDLen+1), false},
		{"space", "a b", false},
		{"quote", `a"b`, false},
		{"comma list", "a,b", false},
		{"newline", "a\nb", false},
		{"tab", "a\tb", false},
		{"nul", "a\x00b", false},
		{"del", "a\x7fb", false},
		{"non-ascii", "ida\u00e9", false},
		{"invalid utf-8", "a\xffb", false},
		{"forged field", `x level=ERROR msg=forged`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := SaneRequestID(tc.id); got != tc.want {
				t.Errorf("SaneRequestID(%q) = %v, want %v", tc.id, got, tc.want)
			}
		})
	}
}

func TestTraceID(t *testing.T) {
	const id = "0af7651916cd43dd8448eb211c80319c"
	for _, tc := range []struct {
		name, header, want string
	}{
		{"sampled", "00-" + id + "-b7ad6b7169203331-01", id},
		{"other flags with sampled", "00-" + id + "-b7ad6b7169203331-03", id},
		{"not sampled", "00-" + id + "-b7ad6b7169203331-00", ""},
		{"later version, more fields", "01-" + id + "-b7ad6b7169203331-01-what-follows", id},
		{"later version, exact", "cc-" + id + "-b7ad6b7169203331-09", id},
		{"version 00 with more", "00-" + id + "-b7ad6b7169203331-01-x", ""},
		{"later version, no dash after", "01-" + id + "-b7ad6b7169203331-01x", ""},
		{"version ff", "ff-" + id + "-b7ad6b7169203331-01", ""},
		{"uppercase", "00-" + strings.ToUpper(id) + "-b7ad6b7169203331-01", ""},
		{"zero trace", "00-" + strings.Repeat("0", 32) + "-b7ad6b7169203331-01", ""},
		{"zero parent", "00-" + id + "-0000000000000000-01", ""},
		{"short", "00-" + id[:31] + "-b7ad6b7169203331-01", ""},
		{"bad separator", "00_" + id + "-b7ad6b7169203331-01", ""},
		{"not hex", "00-" + id[:31] + "g-b7ad6b7169203331-01", ""},
		{"empty", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := TraceID(tc.header); got != tc.want {
				t.Errorf("TraceID(%q) = %q, want %q", tc.header, got, tc.want)
			}
		})
	}
}
