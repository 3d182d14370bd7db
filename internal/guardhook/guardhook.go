// Package guardhook lets the adapters ask the core whether hangup guards a
// request, without a name in the core's exported API. The core sets Guarded
// when it is initialised.
package guardhook

import "context"

// Guarded reports whether ctx belongs to a request that hangup guards. It
// makes nothing: no channel, no cancelCtx.
var Guarded func(ctx context.Context) bool
