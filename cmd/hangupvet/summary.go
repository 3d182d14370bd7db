package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"go/token"
	"io"
	"path/filepath"
	"slices"
	"strings"

	"github.com/hangup-dev/hangup/cmd/hangupvet/hangupvet"
)

// cause is a root cause with what reaches it: the findings it is behind
// (its call sites) and the handlers they are reached from.
type cause struct {
	hangupvet.Cause
	handlers []string // sorted
	sites    []int    // indexes into the findings
}

// group groups findings by cause, the causes reached by the most handlers
// first, then the most call sites, then by position. A fix at the first
// cause silences the most reports and helps the most handlers.
func group(findings []hangupvet.Finding) []*cause {
	type key struct {
		call string
		pos  token.Position
	}
	byKey := make(map[key]*cause)
	var causes []*cause
	for i, f := range findings {
		k := key{f.Cause.Call, f.Cause.Pos}
		c := byKey[k]
		if c == nil {
			c = &cause{Cause: f.Cause}
			byKey[k] = c
			causes = append(causes, c)
		}
		c.sites = append(c.sites, i)
		for _, h := range f.Handlers {
			if !slices.Contains(c.handlers, h) {
				c.handlers = append(c.handlers, h)
			}
		}
	}
	for _, c := range causes {
		slices.Sort(c.handlers)
	}
	slices.SortStableFunc(causes, func(a, b *cause) int {
		return cmp.Or(
			cmp.Compare(len(b.handlers), len(a.handlers)),
			cmp.Compare(len(b.sites), len(a.sites)),
			cmp.Compare(a.Pos.Filename, b.Pos.Filename),
			cmp.Compare(a.Pos.Line, b.Pos.Line),
			cmp.Compare(a.Pos.Column, b.Pos.Column),
			cmp.Compare(a.Call, b.Call),
		)
	})
	return causes
}

// shownHandlers is how many handler names a cause lists before "and N
// more".
const shownHandlers = 4

// printer writes positions relative to dir when they lie beneath it.
type printer struct{ dir string }

func (p printer) posn(pos token.Position) string {
	if rel, err := filepath.Rel(p.dir, pos.Filename); err == nil && !strings.HasPrefix(rel, "..") {
		pos.Filename = rel
	}
	return pos.String()
}

// printCauses writes the causes as a list to fix from the top.
func (p printer) printCauses(w io.Writer, findings []hangupvet.Finding, causes []*cause) {
	fmt.Fprintf(w, "hangupvet: %s from %s; fix the causes at the top first, they are reached by the most handlers:\n",
		plural(len(findings), "finding"), plural(len(causes), "root cause"))
	for i, c := range causes {
		fmt.Fprintf(w, "%3d. %s at %s: %s, %s\n", i+1, c.Call, p.posn(c.Pos),
			plural(len(c.handlers), "handler"), plural(len(c.sites), "call site"))
		shown := c.handlers[:min(len(c.handlers), shownHandlers)]
		more := ""
		if n := len(c.handlers) - len(shown); n > 0 {
			more = fmt.Sprintf(" and %d more", n)
		}
		fmt.Fprintf(w, "     from %s%s\n", strings.Join(shown, ", "), more)
	}
}

// printText writes the causes, then one line per finding as go vet would.
func (p printer) printText(w io.Writer, findings []hangupvet.Finding, causes []*cause) {
	p.printCauses(w, findings, causes)
	fmt.Fprintf(w, "\nThe %s, by position (-summary leaves them out, -json adds each one's call path):\n", plural(len(findings), "finding"))
	for _, f := range sortedByPosition(findings) {
		fmt.Fprintf(w, "%s: %s\n", p.posn(f.Pos), f.Message)
	}
}

// The JSON output: the causes in the order to fix them, and every finding
// with its call path.
type (
	jsonReport struct {
		Causes   []jsonCause   `json:"causes"`
		Findings []jsonFinding `json:"findings"`
	}
	jsonCause struct {
		Call     string   `json:"call"`
		Posn     string   `json:"posn"`
		Handlers []string `json:"handlers"`
		Sites    []string `json:"sites"`
	}
	jsonFinding struct {
		Posn     string   `json:"posn"`
		Rule     string   `json:"rule"`
		Message  string   `json:"message"`
		Handlers []string `json:"handlers"`
		Path     []string `json:"path"`
		Cause    string   `json:"cause"`
		CausePos string   `json:"cause_posn"`
	}
)

// printJSON writes the causes and the findings as one JSON object.
func (p printer) printJSON(w io.Writer, findings []hangupvet.Finding, causes []*cause) error {
	r := jsonReport{Causes: []jsonCause{}, Findings: []jsonFinding{}}
	for _, c := range causes {
		jc := jsonCause{Call: c.Call, Posn: p.posn(c.Pos), Handlers: c.handlers}
		for _, i := range c.sites {
			jc.Sites = append(jc.Sites, p.posn(findings[i].Pos))
		}
		r.Causes = append(r.Causes, jc)
	}
	for _, f := range sortedByPosition(findings) {
		r.Findings = append(r.Findings, jsonFinding{
			Posn: p.posn(f.Pos), Rule: f.Rule, Message: f.Message,
			Handlers: f.Handlers, Path: f.Path,
			Cause: f.Cause.Call, CausePos: p.posn(f.Cause.Pos),
		})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "\t")
	return enc.Encode(r)
}

func sortedByPosition(findings []hangupvet.Finding) []hangupvet.Finding {
	return slices.SortedStableFunc(slices.Values(findings), func(a, b hangupvet.Finding) int {
		return cmp.Or(
			cmp.Compare(a.Pos.Filename, b.Pos.Filename),
			cmp.Compare(a.Pos.Offset, b.Pos.Offset),
		)
	})
}

// plural writes n and noun, with an s unless n is 1.
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
