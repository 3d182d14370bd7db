//go:build race

package proxy

// raceEnabled: the race detector slows everything down several times; load
// tests lower their concurrency so that timers in the peers under test (such
// as net/http's 500 ms before an RST) do not fire for lack of CPU.
const raceEnabled = true
