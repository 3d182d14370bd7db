//go:build !linux

package hangup

// On systems other than Linux hangup does not watch sockets itself: requests
// are cancelled when net/http cancels them (see Guard.Handler for what that
// covers), with cause ErrClientGone and ReasonNetHTTP.

func watch(c *conn) bool { return false }

func unwatch(c *conn) {}

func (c *conn) setSockopts() {}

func quietOpen(c *conn) bool { return false }
