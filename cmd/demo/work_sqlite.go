package demo

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"time"

	_ "modernc.org/sqlite" // the "sqlite" driver: pure Go, nothing to install
)

// countQuery is the SQLite work: a recursive CTE that counts to ?1, one row
// at a time, in the database engine. It is pure CPU work inside SQLite, and
// SQLite stops it within microseconds when interrupted (the driver calls
// sqlite3_interrupt when the query's context is done).
const countQuery = `WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < ?1) SELECT count(*) FROM c`

// sqliteWork runs the counting query on the embedded database, counting as
// far as it gets in the asked duration.
type sqliteWork struct {
	db   *sql.DB
	path string
	rate float64 // rows the query counts per second, calibrated
}

// openSQLite opens (creating it on first run) the demo's database in dir
// and calibrates the counting query, unless rate is given.
func openSQLite(ctx context.Context, dir string, maxConns int, rate float64) (*sqliteWork, error) {
	path := filepath.Join(dir, "demo.db")
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(5000)")
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	db.SetMaxOpenConns(maxConns)
	db.SetMaxIdleConns(maxConns)
	w := &sqliteWork{db: db, path: path, rate: rate}
	_, err = db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS uploads (
		id     INTEGER PRIMARY KEY,
		at     TEXT    NOT NULL,
		bytes  INTEGER NOT NULL,
		sha256 TEXT    NOT NULL
	)`)
	if err == nil && w.rate <= 0 {
		err = w.calibrate(ctx)
	}
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite %s: %w", path, err)
	}
	return w, nil
}

// calibrate measures how fast the counting query runs here: it sizes a run
// of about 0.2 s, then takes the median rate of three such runs, so that one
// run disturbed by the machine's other work does not skew it.
func (w *sqliteWork) calibrate(ctx context.Context) error {
	const target = 200 * time.Millisecond
	n := int64(20_000)
	var rates []float64
	for len(rates) < 3 {
		start := time.Now()
		if _, err := w.count(ctx, n); err != nil {
			return fmt.Errorf("calibration: %w", err)
		}
		d := time.Since(start)
		rate := float64(n) / max(d.Seconds(), 1e-6)
		if d >= target/2 || n >= 1<<40 {
			rates = append(rates, rate)
		}
		n = max(int64(rate*target.Seconds()), n)
	}
	slices.Sort(rates)
	w.rate = rates[1]
	return nil
}

// ErrInterrupted is part of the error of a SQLite query that was
// interrupted because its context was done: the driver then calls
// sqlite3_interrupt, SQLite stops at its next virtual-machine step, and the
// driver reports the context's error, which the error wraps as well.
var ErrInterrupted = errors.New("SQLite query interrupted (sqlite3_interrupt)")

// count runs the counting query up to n on ctx.
func (w *sqliteWork) count(ctx context.Context, n int64) (int64, error) {
	var got int64
	err := w.db.QueryRowContext(ctx, countQuery, n).Scan(&got)
	if err != nil && ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		err = fmt.Errorf("%w: %w", ErrInterrupted, err)
	}
	return got, err
}

// rowsFor is how far the query counts in about d.
func (w *sqliteWork) rowsFor(d time.Duration) int64 {
	return max(int64(w.rate*d.Seconds()), 1)
}

func (w *sqliteWork) do(ctx context.Context, _ uint64, d time.Duration) (string, error) {
	got, err := w.count(ctx, w.rowsFor(d))
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("SQLite counted to %d", got), nil
}

// recordUpload stores what an upload received.
func (w *sqliteWork) recordUpload(ctx context.Context, bytes int64, sum string) error {
	_, err := w.db.ExecContext(ctx, `INSERT INTO uploads (at, bytes, sha256) VALUES (?, ?, ?)`,
		time.Now().UTC().Format(time.RFC3339Nano), bytes, sum)
	return err
}

func (w *sqliteWork) close() error { return w.db.Close() }
