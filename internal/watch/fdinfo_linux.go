package watch

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// AwaitsFIN reports whether s's registration still asks for the peer's FIN:
// false once the one-shot registration fired (the kernel clears its
// events), and after Rearm. It reads the epoll instance's entry in
// /proc/self/fdinfo, which lists every registration with its events, and
// is meant for tests that must know the watcher took a FIN before they send
// what comes next (sent together, a FIN and an RST come as one event). It
// fails when s is not watching.
func (s *Socket) AwaitsFIN() (bool, error) {
	w := &theWatcher
	w.mu.Lock()
	if s.id == 0 || w.ep == nil {
		w.mu.Unlock()
		return false, fmt.Errorf("watch: the socket is not watched")
	}
	epfd := w.ep.fd
	var sfd int
	s.raw.Control(func(fd uintptr) { sfd = int(fd) })
	// Read under the lock: the epoll instance is closed, and its number
	// reused, when the last socket stops.
	b, err := os.ReadFile(fmt.Sprintf("/proc/self/fdinfo/%d", epfd))
	w.mu.Unlock()
	if err != nil {
		return false, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		// tfd:        7 events:       19 data:                0  pos:0 ino:...
		f := strings.Fields(line)
		if len(f) >= 4 && f[0] == "tfd:" && f[1] == strconv.Itoa(sfd) && f[2] == "events:" {
			ev, err := strconv.ParseUint(f[3], 16, 32)
			return ev&unix.EPOLLRDHUP != 0, err
		}
	}
	return false, fmt.Errorf("watch: fd %d is not registered with epoll fd %d:\n%s", sfd, epfd, b)
}
