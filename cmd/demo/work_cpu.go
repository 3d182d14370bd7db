package demo

import (
	"context"
	"crypto/sha256"
	"fmt"
	"time"
)

// cpuWork hashes in a loop for the whole duration, checking its context
// between rounds: work that only stops if it looks.
type cpuWork struct{}

func (cpuWork) do(ctx context.Context, _ uint64, d time.Duration) (string, error) {
	end := time.Now().Add(d)
	var sum [sha256.Size]byte
	var rounds int64
	for time.Now().Before(end) {
		if ctx.Err() != nil {
			return "", fmt.Errorf("cpu loop stopped after %d hashes: %w", rounds, context.Cause(ctx))
		}
		for range 500 {
			sum = sha256.Sum256(sum[:])
		}
		rounds += 500
	}
	return fmt.Sprintf("hashed %d times (%x…)", rounds, sum[:4]), nil
}
