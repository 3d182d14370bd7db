package proxy

import (
	"context"
	"errors"
	"time"

	"github.com/hangup-dev/hangup"
)

// The admission queue is hangup.Admission, the core's line (admission.go):
// Config.MaxInflight requests at each upstream at once, Config.Queue more
// waiting first come first served, each for at most Config.QueueTimeout. A
// waiter waits on its request's context, which hangup cancels the moment
// the client leaves: a client that gives up while queued is taken out of the
// line at once, never reaches the upstream, and is counted and logged in
// phase before_handler (HAProxy's "option abortonclose" does the same for
// its queue, but nothing for requests already sent). Its metrics
// (metrics.go) are the line's Stats.

// newLine returns the admission line for cfg and a pool of that many slots
// (one line for the pool: see pool.go); nil, admitting everything, without
// MaxInflight.
func newLine(cfg *Config, slots int) *hangup.Admission {
	if cfg.MaxInflight <= 0 {
		return nil
	}
	return hangup.NewAdmission(slots, cfg.Queue, cfg.QueueTimeout)
}

// admit takes an upstream slot for a request whose context is ctx, waiting
// in line if need be. It reports whether the request joined the line (not
// when it found the line full), and fails with hangup.ErrQueueFull,
// hangup.ErrQueueTimeout or the cause of ctx. On success the caller must
// call release once.
func (p *Proxy) admit(ctx context.Context) (release func(), queued bool, err error) {
	if p.line == nil {
		return func() {}, false, nil
	}
	if release, ok := p.line.TryAcquire(); ok {
		return release, false, nil
	}
	start := time.Now()
	release, err = p.line.Wait(ctx)
	queued = !errors.Is(err, hangup.ErrQueueFull)
	if queued {
		p.m.waited(time.Since(start))
	}
	return release, queued, err
}
