package pgtest_test

import (
	"context"
	"testing"
	"time"

	"github.com/hangup-dev/hangup/cmd/internal/pgtest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestStart(t *testing.T) {
	start := time.Now()
	s := pgtest.Start(t)
	t.Logf("PostgreSQL up on port %d in %v", s.Port, time.Since(start).Round(time.Millisecond))
	c := s.Connect(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var version string
	if err := c.QueryRow(ctx, "SHOW server_version").Scan(&version); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := c.QueryRow(ctx, "SELECT count(*) FROM generate_series(1, 1000)").Scan(&n); err != nil || n != 1000 {
		t.Fatalf("count = %d, %v", n, err)
	}
	t.Logf("server_version %s", version)
}
