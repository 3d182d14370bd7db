package hangupvet

import (
	"go/ast"
	"go/token"
	"strings"
)

// detachedDirective marks code that must finish even after the client left,
// such as an audit write or a payment: hangupvet neither reports it nor
// follows the calls it makes.
const detachedDirective = "//hangup:detached"

// isDetachedComment reports whether c is the directive, alone or followed
// by an explanation ("//hangup:detached: the audit log must be written").
func isDetachedComment(c *ast.Comment) bool {
	rest, ok := strings.CutPrefix(c.Text, detachedDirective)
	return ok && (rest == "" || strings.ContainsAny(rest[:1], " \t:"))
}

// hasDetachedDoc reports whether a function's doc comment holds the
// directive, which detaches the whole function and what it calls.
func hasDetachedDoc(doc *ast.CommentGroup) bool {
	if doc == nil {
		return false
	}
	for _, c := range doc.List {
		if isDetachedComment(c) {
			return true
		}
	}
	return false
}

// detachedIndex answers whether a position lies in code marked with the
// directive.
type detachedIndex struct {
	fset *token.FileSet
	// lines holds, per file, the lines the directive applies to: the line
	// of a trailing comment, or the line after a comment on its own line.
	lines map[*token.File]map[int]bool
	// spans holds the statements that start on such a line; everything
	// inside them is detached, however many lines they take.
	spans []span
}

type span struct{ pos, end token.Pos }

func newDetachedIndex(fset *token.FileSet, files []*ast.File) *detachedIndex {
	d := &detachedIndex{fset: fset, lines: make(map[*token.File]map[int]bool)}
	for _, f := range files {
		d.addFile(f)
	}
	return d
}

func (d *detachedIndex) addFile(f *ast.File) {
	tf := d.fset.File(f.Pos())
	if tf == nil {
		return
	}
	var directives []*ast.Comment
	for _, cg := range f.Comments {
		for _, c := range cg.List {
			if isDetachedComment(c) {
				directives = append(directives, c)
			}
		}
	}
	if len(directives) == 0 {
		return
	}

	// firstOnLine is the first position at which some syntax starts on
	// each line; a directive after it trails code and applies to that
	// line, one before it stands alone and applies to the next line.
	firstOnLine := make(map[int]token.Pos)
	ast.Inspect(f, func(n ast.Node) bool {
		if n == nil {
			return false
		}
		switch n.(type) {
		case *ast.CommentGroup, *ast.Comment:
			return false
		}
		line := tf.Line(n.Pos())
		if p, ok := firstOnLine[line]; !ok || n.Pos() < p {
			firstOnLine[line] = n.Pos()
		}
		return true
	})
	lines := make(map[int]bool)
	for _, c := range directives {
		line := tf.Line(c.Pos())
		if p, ok := firstOnLine[line]; ok && p < c.Pos() {
			lines[line] = true
		} else {
			lines[line+1] = true
		}
	}
	d.lines[tf] = lines

	ast.Inspect(f, func(n ast.Node) bool {
		if s, ok := n.(ast.Stmt); ok && lines[tf.Line(s.Pos())] {
			d.spans = append(d.spans, span{s.Pos(), s.End()})
			return false
		}
		return true
	})
}

// at reports whether pos is in detached code.
func (d *detachedIndex) at(pos token.Pos) bool {
	if tf := d.fset.File(pos); tf != nil && d.lines[tf][tf.Line(pos)] {
		return true
	}
	for _, s := range d.spans {
		if s.pos <= pos && pos < s.end {
			return true
		}
	}
	return false
}
