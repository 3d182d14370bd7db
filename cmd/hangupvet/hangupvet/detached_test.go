package hangupvet

import (
	"go/ast"
	"testing"
)

func TestIsDetachedComment(t *testing.T) {
	for _, tc := range []struct {
		text string
		want bool
	}{
		{"//hangup:detached", true},
		{"//hangup:detached: the audit trail must be complete", true},
		{"//hangup:detached the audit trail", true},
		{"//hangup:detachedness", false},
		{"// hangup:detached", false}, // directives have no space after //
		{"//hangup:attached", false},
		{"/* hangup:detached */", false},
	} {
		if got := isDetachedComment(&ast.Comment{Text: tc.text}); got != tc.want {
			t.Errorf("isDetachedComment(%q) = %v, want %v", tc.text, got, tc.want)
		}
	}
}
