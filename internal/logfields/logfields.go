// Package logfields reads what an access log line takes from a request's
// headers besides the request line: its request id (X-Request-Id) and its
// trace id (a W3C traceparent header). The core's access log, fasthttphangup's
// and hangup proxy's read them here, so that the three agree on which values
// are believed.
package logfields

// MaxRequestIDLen bounds a request id taken from a client: nginx's own
// $request_id is 32 characters, a UUID 36; 128 leaves room for prefixed and
// composite ids while keeping a hostile header from swelling every line.
const MaxRequestIDLen = 128

// SaneRequestID reports whether id may be logged and passed on as a request
// id: 1 to MaxRequestIDLen bytes, each an ASCII letter, digit, or one of
// "-_.:+/=@" (UUIDs, hex, base64, ULIDs, "service/1234"). Anything else, a
// space, a quote, a comma (a list of ids), a control byte or any non-ASCII
// byte, is refused rather than escaped: an id exists to be grepped for and
// copied between systems, and one that needs quoting is not one.
func SaneRequestID(id string) bool {
	if len(id) == 0 || len(id) > MaxRequestIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		if !idByte(id[i]) {
			return false
		}
	}
	return true
}

func idByte(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	switch c {
	case '-', '_', '.', ':', '+', '/', '=', '@':
		return true
	}
	return false
}

// TraceID returns the trace id of a W3C Trace Context traceparent header
// value (https://www.w3.org/TR/trace-context/#traceparent-header) whose
// sampled flag is set: the 32 lowercase hex digits of the trace the caller
// recorded, which the server's own span joins. It returns "" for a header
// that is absent or malformed (the specification's rules: version "ff" is
// invalid, version "00" is exactly 55 characters, a later version may
// carry more after a '-', an all-zero trace or parent id is invalid), and
// for one whose sampled flag is clear, since no trace of that request was
// kept to look up.
func TraceID(traceparent string) string {
	const size = len("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
	v := traceparent
	if len(v) < size || (len(v) > size && (v[:2] == "00" || v[size] != '-')) {
		return ""
	}
	if !hex(v[0:2]) || v[:2] == "ff" || v[2] != '-' || v[35] != '-' || v[52] != '-' {
		return ""
	}
	trace, parent, flags := v[3:35], v[36:52], v[53:55]
	if !hex(trace) || !hex(parent) || !hex(flags) || zeros(trace) || zeros(parent) {
		return ""
	}
	if unhex(flags[1])&1 == 0 {
		return ""
	}
	return trace
}

// hex reports whether s is lowercase hex digits only.
func hex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

func zeros(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] != '0' {
			return false
		}
	}
	return true
}

func unhex(c byte) byte {
	if c <= '9' {
		return c - '0'
	}
	return c - 'a' + 10
}
