package storm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"time"
)

// Dist is a distribution of durations: how long a user waits for a response
// before giving up (patience), or how long it thinks between requests.
//
// Its text form, accepted by ParseDist and produced by String, is one of
//
//	2s              fixed: always 2s
//	uniform:1s-3s   uniform between 1s and 3s
//	exp:2s          exponential with mean 2s
//	inf             forever: a patient user, as hey's and vegeta's
//
// Real users are not all equally patient; a fixed patience makes every user
// give up at the same instant, which a server sees as synchronized waves.
// The zero Dist is fixed at 0.
type Dist struct {
	kind distKind
	a, b time.Duration // fixed: a; uniform: [a, b]; exponential: mean a
}

type distKind uint8

const (
	distFixed distKind = iota
	distUniform
	distExp
)

// Forever is the patience of a user who never gives up ("inf"): 146 years,
// far beyond any run and far from overflowing a time.Time.
const Forever = time.Duration(1 << 62)

// Fixed returns the distribution that is always d.
func Fixed(d time.Duration) Dist { return Dist{kind: distFixed, a: d} }

// Uniform returns the uniform distribution between lo and hi.
func Uniform(lo, hi time.Duration) Dist { return Dist{kind: distUniform, a: lo, b: hi} }

// Exponential returns the exponential distribution with the given mean:
// most users are quick to give up, a few wait very long.
func Exponential(mean time.Duration) Dist { return Dist{kind: distExp, a: mean} }

// ParseDist parses the text form of a Dist (see Dist).
func ParseDist(s string) (Dist, error) {
	bad := func(why string) (Dist, error) {
		return Dist{}, fmt.Errorf("bad duration distribution %q: %s; want a duration like 2s, uniform:1s-3s, exp:2s or inf", s, why)
	}
	s = strings.TrimSpace(s)
	kind, arg, hasKind := strings.Cut(s, ":")
	if s == "inf" || s == "forever" {
		return Fixed(Forever), nil
	}
	if !hasKind {
		d, err := time.ParseDuration(s)
		if err != nil {
			return bad("not a duration")
		}
		if d < 0 {
			return bad("negative")
		}
		return Fixed(d), nil
	}
	switch strings.ToLower(kind) {
	case "uniform", "u":
		los, his, ok := strings.Cut(arg, "-")
		if !ok {
			return bad("uniform needs two durations separated by '-'")
		}
		lo, err1 := time.ParseDuration(los)
		hi, err2 := time.ParseDuration(his)
		if err1 != nil || err2 != nil {
			return bad("uniform bounds are not durations")
		}
		if lo < 0 || hi < lo {
			return bad("uniform bounds must satisfy 0 <= low <= high")
		}
		return Uniform(lo, hi), nil
	case "exp", "exponential":
		m, err := time.ParseDuration(arg)
		if err != nil {
			return bad("exp mean is not a duration")
		}
		if m < 0 {
			return bad("negative mean")
		}
		return Exponential(m), nil
	}
	return bad("unknown kind " + kind)
}

// String returns the text form of d, which ParseDist accepts.
func (d Dist) String() string {
	switch d.kind {
	case distUniform:
		return "uniform:" + d.a.String() + "-" + d.b.String()
	case distExp:
		return "exp:" + d.a.String()
	}
	if d.a == Forever {
		return "inf"
	}
	return d.a.String()
}

// Set parses s into d, so that a *Dist is a flag.Value.
func (d *Dist) Set(s string) error {
	v, err := ParseDist(s)
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// MarshalText returns the text form, so that a Dist reads well in JSON.
func (d Dist) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText parses the text form.
func (d *Dist) UnmarshalText(b []byte) error { return d.Set(string(b)) }

// Mean returns the distribution's mean.
func (d Dist) Mean() time.Duration {
	if d.kind == distUniform {
		return d.a + (d.b-d.a)/2
	}
	return d.a
}

// Sample draws one duration from d using r.
func (d Dist) Sample(r *rand.Rand) time.Duration {
	switch d.kind {
	case distUniform:
		if d.b <= d.a {
			return d.a
		}
		return d.a + time.Duration(r.Int64N(int64(d.b-d.a)+1))
	case distExp:
		// Cap at 50 means: a user who would wait for hours is, for a run of
		// minutes, the same as one who waits forever, and the cap keeps the
		// conversion to Duration from overflowing.
		x := math.Min(r.ExpFloat64(), 50)
		return time.Duration(x * float64(d.a))
	}
	return d.a
}
