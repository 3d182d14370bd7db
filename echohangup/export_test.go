package echohangup

import "sync"

// ResetWarnings lets a test see the once-per-process warnings again.
func ResetWarnings() { warnServer, warnGuard = sync.Once{}, sync.Once{} }
