package hangup

// OnDone sets a hook called once for every request, after its handler
// returned (or, for a client that left before its handler started, once
// hangup gave up on it), with the request's Report; Report.Abandoned tells
// the requests OnAbandon also receives from the others. It runs on the
// request's goroutine, after OnAbandon and the access log, and should be
// quick: it is what feeds per-request metrics (promhangup.Histograms).
//
// Without it a request costs what it did: the hook is one nil check, and the
// request's start time, which the Report needs, is read only when some hook
// or the access log wants it.
func OnDone(f func(Report)) Option {
	return func(c *config) { c.onDone = f }
}
