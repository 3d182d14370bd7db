package ginhangup

import "sync"

// ResetWarning lets a test see the once-per-process warning again.
func ResetWarning() { warnOnce = sync.Once{} }
