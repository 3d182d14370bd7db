package adaptertest

import (
	"context"
	"log/slog"
	"sync"
	"testing"
)

// Warnings captures what is logged with slog's default logger while a test
// runs, for the adapters' once-per-process warnings. The tests that use it
// must not run in parallel: the default logger is the process's.
type Warnings struct {
	mu   sync.Mutex
	msgs []string
}

// CaptureWarnings makes slog's default logger record into the returned
// Warnings until the test ends.
func CaptureWarnings(t testing.TB) *Warnings {
	w := &Warnings{}
	old := slog.Default()
	slog.SetDefault(slog.New(w))
	t.Cleanup(func() { slog.SetDefault(old) })
	return w
}

func (w *Warnings) Enabled(context.Context, slog.Level) bool { return true }
func (w *Warnings) WithAttrs([]slog.Attr) slog.Handler       { return w }
func (w *Warnings) WithGroup(string) slog.Handler            { return w }

// Handle records the level and message of r.
func (w *Warnings) Handle(_ context.Context, r slog.Record) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.msgs = append(w.msgs, r.Level.String()+" "+r.Message)
	return nil
}

// All returns what was logged so far, "LEVEL message" each.
func (w *Warnings) All() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.msgs...)
}
