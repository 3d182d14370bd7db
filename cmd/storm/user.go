package storm

import (
	"context"
	"math/rand/v2"
	"sync/atomic"
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

// load is what the users of one run share.
type load struct {
	cfg    *Config
	client *client
	rec    *recorder
	next   atomic.Uint64 // the next target, round robin
	begin  time.Time     // when the users started (the warmup's start)
}

// user is one impatient user: one connection at a time, one request at a
// time.
type user struct {
	*load
	id  int
	rng *rand.Rand
	s   session
	// measured says whether the last request was counted; the reload
	// or departure after it is counted only if it was.
	measured bool
}

func (r *load) newUser(id int, seed uint64) *user {
	return &user{load: r, id: id, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), s: r.client.newSession()}
}

// loop is a closed-loop user: request, then think, until ctx ends. When
// its patience runs out it closes the connection and either reloads at once
// or leaves for a think time. With stages, user number id runs only while
// the schedule wants more than id users; a user ramped down finishes its
// request first.
func (u *user) loop(ctx context.Context) {
	defer u.s.close()
	if !sleep(ctx, time.Duration(u.rng.Int64N(int64(startSpread)))) {
		return
	}
	for {
		if !u.waitWanted(ctx) {
			return
		}
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

// waitWanted waits until the stages want user u, dropping its connection
// while they do not, and reports false if ctx ended first.
func (u *user) waitWanted(ctx context.Context) bool {
	if len(u.cfg.Stages) == 0 {
		return true
	}
	for {
		wait, ok := Stages(u.cfg.Stages).untilWanted(u.id, time.Since(u.begin))
		if !ok {
			<-ctx.Done()
			return false
		}
		if wait <= 0 {
			return ctx.Err() == nil
		}
		u.s.close()
		if !sleep(ctx, wait) {
			return false
		}
	}
}

// visit is an open-loop arrival: a visitor who requests until it gets an
// answer (or an error), reloading when its patience runs out with
// probability ReloadProb and otherwise leaving for good.
func (u *user) visit(ctx context.Context) {
	defer u.s.close()
	for {
		if u.request(ctx) != outAbandoned || !u.reloads() {
			return
		}
	}
}

// reloads decides, after an abandonment, whether the user reloads (true)
// or leaves, and counts the decision if the abandonment was.
func (u *user) reloads() bool {
	reload := u.rng.Float64() < u.cfg.ReloadProb
	switch {
	case !u.measured:
	case reload:
		u.rec.reload()
	default:
		u.rec.left()
	}
	return reload
}

// request makes one request of the next target with a freshly drawn
// patience and records it.
func (u *user) request(ctx context.Context) outcome {
	start := time.Now()
	ok, measured := u.rec.sent(start)
	if !ok {
		return outUnfinished
	}
	i := int((u.next.Add(1) - 1) % uint64(len(u.client.targets)))
	deadline := start.Add(u.cfg.Patience.Sample(u.rng))
	timedOut := false
	if t := u.client.timeout; t > 0 && start.Add(t).Before(deadline) {
		deadline, timedOut = start.Add(t), true
	}
	x := u.s.do(ctx, u.client.targets[i], deadline, timedOut)
	end := time.Now()
	if x.outcome == outGood && end.After(deadline) {
		// The answer was complete in time, but the user's goroutine
		// saw it only after the deadline (a machine too busy to run it):
		// the user was no longer waiting.
		x.outcome = outAbandoned
		if timedOut {
			x.outcome = outTimeout
		}
	}
	u.measured = measured
	if measured {
		return u.rec.done(done{user: u.id, target: i, start: start, end: end, exchange: x})
	}
	return x.outcome
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
