// Package bytesize reads and writes sizes in bytes for the commands' flags:
// 16MB, 512KiB, 1.5GB, 1048576. Every size flag of every hangup command goes
// through Parse, so that they all take the same spellings.
//
// Units follow SI and IEC, as the Linux tools (ls --si, df -H) and the
// Kubernetes quantities do: KB, MB, GB and TB are powers of 1000; KiB, MiB,
// GiB and TiB powers of 1024. Case does not matter (16mb is 16MB). A bare K,
// M or G is refused: nginx reads 16m as 16 MiB, Kubernetes as 16 MB, and a
// limit off by 5% is the kind of bug nobody looks for.
package bytesize

import (
	"flag"
	"fmt"
	"math"
	"math/big"
	"strings"
)

// Example is the list of spellings the errors of Parse offer.
const Example = "16MB, 512KiB, 1GB or 1048576"

// units are the suffixes Parse accepts, lower-cased, and their multipliers;
// "" and "b" are bytes.
var units = map[string]int64{
	"": 1, "b": 1,
	"kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12,
	"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40,
}

// Parse reads a size in bytes: a decimal number, optionally with a fraction
// and followed, after optional spaces, by a unit (see the package comment).
// Zero is a size; what it means is the flag's to say. Parse refuses
// negative sizes, signs, exponents, fractions of a byte (1.5B, 0.1KiB), sizes
// beyond math.MaxInt64 and unknown or ambiguous units, with an error that
// says what to write instead.
func Parse(s string) (int64, error) {
	t := strings.TrimSpace(s)
	rawUnit := t[len(strings.TrimRight(t, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")):]
	num, unit := strings.TrimSpace(t[:len(t)-len(rawUnit)]), strings.ToLower(rawUnit)
	if strings.HasPrefix(num, "-") {
		return 0, fmt.Errorf("negative size %q: want 0 or more, e.g. %s", s, Example)
	}
	if !isDecimal(num) {
		return 0, fmt.Errorf("invalid size %q: want a number of bytes with an optional unit, e.g. %s", s, Example)
	}
	mult, ok := units[unit]
	if !ok {
		if u, ok := ambiguous(unit); ok {
			return 0, fmt.Errorf("ambiguous size %q: write %s%sB (10^%d bytes) or %s%siB (2^%d)",
				s, num, u, 3*exponent(u), num, u, 10*exponent(u))
		}
		return 0, fmt.Errorf("unknown unit %q in size %q: want B, KB, MB, GB, TB (powers of 1000) or KiB, MiB, GiB, TiB (powers of 1024), e.g. %s", rawUnit, s, Example)
	}
	r, _ := new(big.Rat).SetString(num) // isDecimal checked it
	r.Mul(r, new(big.Rat).SetInt64(mult))
	if !r.IsInt() {
		return 0, fmt.Errorf("size %q is not a whole number of bytes (%s)", s, r.FloatString(3))
	}
	if !r.Num().IsInt64() {
		return 0, fmt.Errorf("size %q is too large: at most %d bytes (8EiB)", s, int64(math.MaxInt64))
	}
	return r.Num().Int64(), nil
}

// isDecimal reports whether s is digits with at most one point among or
// after them: 16, 1.5, 2.
func isDecimal(s string) bool {
	digits, points := 0, 0
	for _, c := range s {
		switch {
		case c >= '0' && c <= '9':
			digits++
		case c == '.':
			points++
		default:
			return false
		}
	}
	return digits > 0 && points <= 1 && s[0] != '.'
}

// ambiguous reports whether unit is a bare prefix (k, m, g, t), and which,
// in capitals.
func ambiguous(unit string) (string, bool) {
	switch unit {
	case "k", "m", "g", "t":
		return strings.ToUpper(unit), true
	}
	return "", false
}

func exponent(prefix string) int { return strings.Index("KMGT", prefix) + 1 }

// Format writes n the way a person would type it and Parse reads it back:
// in the unit that divides it and gives the smallest number (16MiB, 64KiB,
// 16MB), else in bytes (1500). Zero is "0".
func Format(n int64) string {
	best, unit := n, ""
	for _, u := range []struct {
		name string
		mult int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}} {
		if n != 0 && n%u.mult == 0 && n/u.mult < best {
			best, unit = n/u.mult, u.name
		}
	}
	return fmt.Sprintf("%d%s", best, unit)
}

// Off is the value a flag defined with VarOff stores for "off".
const Off = -1

// value is a size flag: a flag.Value and flag.Getter whose Get is the size as
// its field's type.
type value[T ~int | ~int64] struct {
	p   *T
	off bool // "off" is accepted, and stored as Off
}

// Var defines a size flag on fs that stores into p, with *p as its default:
// it takes what Parse takes. The usage should name the unit: help prints the
// flag as "-name size".
func Var[T ~int | ~int64](fs *flag.FlagSet, p *T, name, usage string) {
	fs.Var(&value[T]{p: p}, name, usage)
}

// VarOff is Var for a setting that can be turned off: it also takes "off",
// and stores Off. A negative number is refused, as by Var, with a hint to
// write off.
func VarOff[T ~int | ~int64](fs *flag.FlagSet, p *T, name, usage string) {
	fs.Var(&value[T]{p: p, off: true}, name, usage)
}

func (v *value[T]) String() string {
	switch {
	case v.p == nil: // the zero value flag.PrintDefaults makes
		return "0"
	case v.off && *v.p < 0:
		return "off"
	}
	return Format(int64(*v.p))
}

func (v *value[T]) Set(s string) error {
	if v.off && strings.EqualFold(strings.TrimSpace(s), "off") {
		*v.p = Off
		return nil
	}
	n, err := Parse(s)
	if err != nil {
		if v.off {
			return fmt.Errorf("%v; or off to turn it off", err)
		}
		return err
	}
	if int64(T(n)) != n {
		return fmt.Errorf("size %q is too large for this flag", s)
	}
	*v.p = T(n)
	return nil
}

func (v *value[T]) Get() any { return *v.p }
