package hangup

import (
	"testing"
	"unsafe"
)

// TestRequestSize: a request is one allocation, and with the heap's 8-byte
// header it must fit the 640-byte size class; a field more takes the next
// class (704 bytes) on every request. BenchmarkServe's B/op shows the class.
func TestRequestSize(t *testing.T) {
	if n := unsafe.Sizeof(request{}); n > 632 {
		t.Errorf("request is %d bytes, want at most 632", n)
	}
}
