package proxy

import (
	"encoding/hex"
	"math/rand/v2"
	"net/http"

	"github.com/hangup-dev/hangup/internal/logfields"
)

// The request id. Every request gets one, logged as request_id and sent
// upstream in X-Request-Id: the client's own, when it sent exactly one and
// it is sane (1 to 128 letters, digits or "-_.:+/=@": see
// logfields.SaneRequestID), so that ids made further out (a load balancer,
// the caller's own logs) follow the request through; otherwise a new one,
// which replaces whatever the client sent, so that no hostile or ambiguous
// value reaches the upstream's logs. A client cannot learn whether its id
// was kept except from the upstream.
//
// The id is not echoed in the response: neither nginx ($request_id is
// logged and passed only where the configuration says) nor Envoy
// (always_set_request_id_in_response defaults to false) adds it to answers.
// An upstream that sets X-Request-Id on its answer is passed through, as any
// header is.
//
// A made id is 32 lowercase hex digits, as nginx's $request_id: 128 bits of
// math/rand/v2's generator (ChaCha8, seeded by the runtime from the
// system's entropy, per thread and without a lock), not crypto/rand: an id
// names a request and grants nothing, so it needs to be unique, not secret.
// BenchmarkRequestID measured them close on Linux 6.18, where crypto/rand
// reads the vDSO's getrandom (about 245 ns against 170 to 235 ns, on a
// loaded 2-core machine), but on kernels before 6.11 crypto/rand is one
// getrandom(2) system call per id, and math/rand/v2 never is.

// requestIDHeader is X-Request-Id, canonical.
const requestIDHeader = "X-Request-Id"

// requestID returns r's request id, and sets it in r.Header (which the
// upstream request copies) when it is a new one.
func requestID(r *http.Request) string {
	if v := r.Header[requestIDHeader]; len(v) == 1 && logfields.SaneRequestID(v[0]) {
		return v[0]
	}
	id := newRequestID()
	r.Header[requestIDHeader] = []string{id}
	return id
}

// newRequestID makes a request id: 32 hex digits of random bits.
func newRequestID() string {
	var raw [16]byte
	for i := 0; i < len(raw); i += 8 {
		u := rand.Uint64()
		for j := range 8 {
			raw[i+j] = byte(u >> (8 * j))
		}
	}
	var b [32]byte
	hex.Encode(b[:], raw[:])
	return string(b[:])
}
