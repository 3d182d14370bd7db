package hangup

import "time"

// secs rounds d up to whole seconds, at least one, as the keepalive socket
// options want.
func secs(d time.Duration) int {
	s := int((d + time.Second - 1) / time.Second)
	if s < 1 {
		s = 1
	}
	return s
}
