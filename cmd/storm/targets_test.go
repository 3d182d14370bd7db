package storm

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseTargets(t *testing.T) {
	body := filepath.Join(t.TempDir(), "body.json")
	os.WriteFile(body, []byte(`{"a":1}`), 0o644)
	in := "# comment\nGET http://localhost:8888/a\nX-Id: 1\nX-Id: 2\n\nPOST https://example.com/b\nContent-Type: application/json\n@" + body + "\nHEAD http://localhost:8888/c\n"
	ts, err := ParseTargets(strings.NewReader(in), "t.txt")
	if err != nil {
		t.Fatal(err)
	}
	if len(ts) != 3 || ts[0].Method != "GET" || len(ts[0].Header["X-Id"]) != 2 || ts[1].Method != "POST" ||
		string(ts[1].Body) != `{"a":1}` || ts[1].Header.Get("Content-Type") != "application/json" || ts[2].Method != "HEAD" || ts[2].Body != nil {
		t.Errorf("parsed %+v", ts)
	}
	for _, tc := range []struct{ in, want string }{
		{"", "t.txt has no target"},
		{"X-Id: 1\n", "t.txt:1: a header before any target"},
		{"@body\n", "t.txt:1: a body before any target"},
		{"GET\n", "t.txt:1: want METHOD URL"},
		{"GET localhost:8888/\n", "t.txt:1: URL \"localhost:8888/\" has no scheme"},
		{"GET http://x/\n@/nonexistent\n", "t.txt:2: cannot read the body"},
		{"G(T http://x/\n", "t.txt:1: method \"G(T\" is not an HTTP method token"},
	} {
		_, err := ParseTargets(strings.NewReader(tc.in), "t.txt")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseTargets(%q) = %v, want %q", tc.in, err, tc.want)
		}
	}
}
