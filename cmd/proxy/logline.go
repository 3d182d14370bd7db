package proxy

import (
	"log/slog"
	"strconv"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"
)

// fieldSink receives the fields of an access log line, in order.
type fieldSink interface {
	str(key, v string)
	int(key string, v int64)
	dur(key string, v time.Duration)
	bool(key string, v bool)
}

// attrSink collects the fields as slog attributes, for Config.Logger.
type attrSink struct{ attrs []slog.Attr }

func (s *attrSink) str(k, v string)               { s.attrs = append(s.attrs, slog.String(k, v)) }
func (s *attrSink) int(k string, v int64)         { s.attrs = append(s.attrs, slog.Int64(k, v)) }
func (s *attrSink) dur(k string, v time.Duration) { s.attrs = append(s.attrs, slog.Duration(k, v)) }
func (s *attrSink) bool(k string, v bool)         { s.attrs = append(s.attrs, slog.Bool(k, v)) }

// lineSink writes the fields as one line, byte for byte what
// slog.TextHandler (or, with json, slog.JSONHandler) with default options
// writes for an Info record "request" with those attributes: the same
// quoting, escaping, time and duration formats (FuzzAccessLine compares the
// two). It does in a fraction of the time what the handlers do for any
// value, for the few kinds of value an access line has.
type lineSink struct {
	b    []byte
	json bool
}

var linePool = sync.Pool{New: func() any { return &lineSink{b: make([]byte, 0, 512)} }}

// begin starts a line for a record made at t with message msg.
func (s *lineSink) begin(t time.Time, msg string) {
	s.b = s.b[:0]
	if s.json {
		s.b = append(s.b, `{"time":"`...)
		s.b = t.AppendFormat(s.b, time.RFC3339Nano)
		s.b = append(s.b, `","level":"INFO","msg":`...)
		s.b = appendJSONString(s.b, msg)
		return
	}
	s.b = append(s.b, "time="...)
	s.b = appendRFC3339Millis(s.b, t)
	s.b = append(s.b, " level=INFO msg="...)
	s.b = appendTextString(s.b, msg)
}

// end finishes the line and returns it, newline included.
func (s *lineSink) end() []byte {
	if s.json {
		s.b = append(s.b, '}')
	}
	s.b = append(s.b, '\n')
	return s.b
}

func (s *lineSink) key(k string) {
	if s.json {
		s.b = append(s.b, ',')
		s.b = appendJSONString(s.b, k)
		s.b = append(s.b, ':')
		return
	}
	s.b = append(s.b, ' ')
	s.b = appendTextString(s.b, k)
	s.b = append(s.b, '=')
}

func (s *lineSink) str(k, v string) {
	s.key(k)
	if s.json {
		s.b = appendJSONString(s.b, v)
	} else {
		s.b = appendTextString(s.b, v)
	}
}

func (s *lineSink) int(k string, v int64) {
	s.key(k)
	s.b = strconv.AppendInt(s.b, v, 10)
}

func (s *lineSink) dur(k string, v time.Duration) {
	s.key(k)
	if s.json {
		s.b = strconv.AppendInt(s.b, int64(v), 10) // as json.Marshal
	} else {
		s.b = append(s.b, v.String()...)
	}
}

func (s *lineSink) bool(k string, v bool) {
	s.key(k)
	s.b = strconv.AppendBool(s.b, v)
}

// appendRFC3339Millis formats t as slog.TextHandler does: RFC 3339 with
// exactly three digits of milliseconds.
func appendRFC3339Millis(b []byte, t time.Time) []byte {
	const prefixLen = len("2006-01-02T15:04:05.000")
	n := len(b)
	// RFC3339Nano trims trailing zeros: a tenth of a millisecond added
	// keeps four digits, and the fourth is dropped.
	t = t.Truncate(time.Millisecond).Add(time.Millisecond / 10)
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b[:n+prefixLen], b[n+prefixLen+1:]...)
}

// appendTextString appends s as slog.TextHandler writes a string: as it is,
// or quoted with strconv when it is empty or has a space, '=', '"', a
// control character, or anything but printable UTF-8.
func appendTextString(b []byte, s string) []byte {
	if textNeedsQuoting(s) {
		return strconv.AppendQuote(b, s)
	}
	return append(b, s...)
}

func textNeedsQuoting(s string) bool {
	if s == "" {
		return true
	}
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c != '\\' && (c == ' ' || c == '=' || !jsonSafe(c)) {
				return true
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError || unicode.IsSpace(r) || !unicode.IsPrint(r) {
			return true
		}
		i += size
	}
	return false
}

// jsonSafe reports whether the ASCII byte c goes into a JSON string as it
// is (HTML characters included, as slog.JSONHandler leaves them).
func jsonSafe(c byte) bool { return c >= 0x20 && c != '"' && c != '\\' }

// appendJSONString appends s quoted as a JSON string, escaped as
// slog.JSONHandler escapes it: \" \\ \n \r \t, other control bytes as
// \u00XX, invalid UTF-8 as \ufffd, U+2028 and U+2029 escaped.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if jsonSafe(c) {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
