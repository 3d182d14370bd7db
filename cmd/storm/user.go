package storm

import (
	"context"
	"math/rand/v2"
	"time"
)

const (
	// startSpread spreads the users' first requests so that they do not
	// all hit the server in the same millisecond and stay in lockstep.
	startSpread = 100 * time.Millisecond
	// errorPause is the least a user waits after an error, so that users
	// with no think time do not spin on a server that refuses them.
	errorPause = 10 * time.Millisecond
)

// user is one impatient user: one connection at a time, one request at a
// time.
type user struct {
	cfg  *Config
	t    *target
	rec  *recorder
	rng  *rand.Rand
	conn *conn // kept between requests while the server keeps it alive
}

func newUser(cfg *Config, t *target, rec *recorder, seed uint64) *user {
	return &user{cfg: cfg, t: t, rec: rec, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

// loop is a closed-loop user: request, then think, until ctx ends. When
// its patience runs out it closes the connection and either reloads at once
// or leaves for a think time.
func (u *user) loop(ctx context.Context) {
	defer u.drop()
	if !sleep(ctx, time.Duration(u.rng.Int64N(int64(startSpread)))) {
		return
	}
	for {
		var pause time.Duration
		switch o := u.request(ctx); o {
		case outUnfinished:
			return
		case outGood:
			pause = u.cfg.Think.Sample(u.rng)
		case outAbandoned:
			if u.reloads() {
				continue
			}
			pause = u.cfg.Think.Sample(u.rng)
		default:
			pause = max(u.cfg.Think.Sample(u.rng), errorPause)
		}
		if !sleep(ctx, pause) {
			return
		}
	}
}

// visit is an open-loop arrival: a visitor who requests until it gets an
// answer (or an error), reloading when its patience runs out with
// probability ReloadProb and otherwise leaving for good.
func (u *user) visit(ctx context.Context) {
	defer u.drop()
	for {
		if u.request(ctx) != outAbandoned || !u.reloads() {
			return
		}
	}
}

// reloads decides, after an abandonment, whether the user reloads (true)
// or leaves, and counts the decision.
func (u *user) reloads() bool {
	if u.rng.Float64() < u.cfg.ReloadProb {
		u.rec.reload()
		return true
	}
	u.rec.left()
	return false
}

// request makes one request with a freshly drawn patience and records it.
func (u *user) request(ctx context.Context) outcome {
	start := time.Now()
	if !u.rec.sent(start) {
		return outUnfinished
	}
	patience := u.cfg.Patience.Sample(u.rng)
	o, latency := u.t.attempt(ctx, &u.conn, start, start.Add(patience))
	u.rec.done(time.Now(), o, latency)
	return o
}

func (u *user) drop() {
	if u.conn != nil {
		u.conn.close()
		u.conn = nil
	}
}

// sleep waits for d or until ctx ends, and reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
