package proxy

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"
)

// countWriter records each Write it gets.
type countWriter struct {
	mu     sync.Mutex
	writes []string
}

func (c *countWriter) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.writes = append(c.writes, string(p))
	return len(p), nil
}

func (c *countWriter) get() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.writes...)
}

func TestLogWriterBuffersWholeLines(t *testing.T) {
	cw := &countWriter{}
	l := NewLogWriter(cw, 64, time.Hour)
	line := "0123456789abcdefghi\n" // 20 bytes: three fit in 64
	for range 4 {
		l.Write([]byte(line))
	}
	if w := cw.get(); len(w) != 1 || w[0] != strings.Repeat(line, 3) {
		t.Fatalf("after 4 lines, writes = %q; want the first three in one write", w)
	}
	big := strings.Repeat("x", 100) + "\n"
	l.Write([]byte(big))
	if w := cw.get(); len(w) != 3 || w[1] != line || w[2] != big {
		t.Fatalf("a line larger than the buffer: writes = %q; want the buffered line, then it", w)
	}
	l.Write([]byte(line))
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l.Write([]byte("after\n"))
	if w := cw.get(); len(w) != 5 || w[3] != line || w[4] != "after\n" {
		t.Fatalf("writes = %q; want Close to flush and later writes to go straight through", w)
	}
}

func TestLogWriterFlushesWithinInterval(t *testing.T) {
	var mu sync.Mutex
	var buf bytes.Buffer
	l := NewLogWriter(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return buf.Write(p)
	}), 0, 20*time.Millisecond)
	defer l.Close()
	for round := range 2 { // the timer is armed again after a flush
		l.Write([]byte("line\n"))
		deadline := time.Now().Add(5 * time.Second)
		for {
			mu.Lock()
			n := strings.Count(buf.String(), "line\n")
			mu.Unlock()
			if n == round+1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("round %d: the line was not written within 5s", round)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
