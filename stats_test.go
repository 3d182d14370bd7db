package hangup_test

import (
	"testing"

	"github.com/hangup-dev/hangup"
)

// TestPhasesAndGoneIn: Phases hands out a new slice each time (a caller that
// sorts or trims it changes nobody else's), and GoneIn answers 0 for a Phase
// outside the list instead of panicking.
func TestPhasesAndGoneIn(t *testing.T) {
	p := hangup.Phases()
	want := []hangup.Phase{hangup.PhaseBeforeHandler, hangup.PhaseReadingBody, hangup.PhaseHandler, hangup.PhaseWritingResponse}
	if len(p) != len(want) {
		t.Fatalf("Phases() = %v, want %v", p, want)
	}
	p[0] = hangup.PhaseHandler
	for i, got := range hangup.Phases() {
		if got != want[i] {
			t.Errorf("after a caller changed its copy, Phases()[%d] = %v, want %v", i, got, want[i])
		}
	}
	var st hangup.Stats
	for _, ph := range []hangup.Phase{0, hangup.PhaseHandler, hangup.Phase(200)} {
		if n := st.GoneIn(ph); n != 0 {
			t.Errorf("GoneIn(%v) of empty Stats = %d", ph, n)
		}
	}
}
