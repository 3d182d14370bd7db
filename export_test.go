package hangup

// Draining reports whether the installed server's Shutdown has run hangup's
// hook, for tests that need a client to leave during a graceful Shutdown.
func (g *Guard) Draining() bool { return g.draining.Load() }
