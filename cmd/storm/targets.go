package storm

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
)

// ParseTargets reads targets in vegeta's http format: each target is a line
// METHOD URL, then its header lines (Name: value) and an optional @FILE line
// whose file is the body (a relative path is taken from the working
// directory, as vegeta does). Blank lines and lines starting with # are
// skipped. name is the file's name, for errors, which give the line.
func ParseTargets(r io.Reader, name string) ([]Target, error) {
	var out []Target
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		bad := func(why string) ([]Target, error) {
			return nil, fmt.Errorf("%s:%d: %s (%q); the format is vegeta's: METHOD URL, then Name: value headers and an optional @BODYFILE line", name, n, why, line)
		}
		if line == "" || line[0] == '#' {
			continue
		}
		first, rest, _ := strings.Cut(line, " ")
		switch {
		case strings.HasPrefix(line, "@"):
			if len(out) == 0 {
				return bad("a body before any target")
			}
			b, err := os.ReadFile(line[1:])
			if err != nil {
				return bad(fmt.Sprintf("cannot read the body: %v", err))
			}
			out[len(out)-1].Body = b
		case strings.HasSuffix(first, ":"):
			if len(out) == 0 {
				return bad("a header before any target")
			}
			t := &out[len(out)-1]
			if t.Header == nil {
				t.Header = http.Header{}
			}
			t.Header.Add(strings.TrimSuffix(first, ":"), strings.TrimSpace(rest))
		default:
			u := strings.TrimSpace(rest)
			if u == "" || strings.ContainsAny(u, " \t") {
				return bad("want METHOD URL")
			}
			t := Target{Method: first, URL: u}
			if _, err := newTarget(t); err != nil {
				return bad(err.Error())
			}
			out = append(out, t)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %v", name, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s has no target; write one a line, e.g. GET http://localhost:8888/", name)
	}
	return out, nil
}
