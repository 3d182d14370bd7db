package bytesize

import (
	"flag"
	"io"
	"math"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestParse: every spelling the flags take, and the errors for those they
// refuse, each of which must say what to write instead.
func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     int64
		err      string // a part of the error; "" for none
	}{
		{"zero", "0", 0, ""},
		{"zero with a unit", "0MB", 0, ""},
		{"plain bytes", "1048576", 1 << 20, ""},
		{"bytes with B", "512B", 512, ""},
		{"KB is 1000", "1KB", 1000, ""},
		{"kB", "4kB", 4000, ""},
		{"KiB is 1024", "512KiB", 512 << 10, ""},
		{"MB is 10^6", "16MB", 16e6, ""},
		{"MiB is 2^20", "16MiB", 16 << 20, ""},
		{"GB", "1GB", 1e9, ""},
		{"GiB", "1GiB", 1 << 30, ""},
		{"TB", "2TB", 2e12, ""},
		{"TiB", "1TiB", 1 << 40, ""},
		{"lowercase", "16mb", 16e6, ""},
		{"lowercase binary", "16mib", 16 << 20, ""},
		{"capitals", "16MIB", 16 << 20, ""},
		{"space before the unit", "16 MB", 16e6, ""},
		{"spaces around", "  64KiB \t", 64 << 10, ""},
		{"fraction", "1.5MB", 1_500_000, ""},
		{"binary fraction", "1.5KiB", 1536, ""},
		{"trailing point", "2.MB", 2e6, ""},
		{"largest", "9223372036854775807", math.MaxInt64, ""},
		{"8EiB less a byte, in a unit", "8388607TiB", 8388607 << 40, ""},

		{"negative", "-1", 0, "negative size"},
		{"negative with unit", "-16MB", 0, "want 0 or more"},
		{"empty", "", 0, "invalid size"},
		{"only spaces", "   ", 0, "invalid size"},
		{"garbage", "lots", 0, "invalid size"},
		{"unknown unit", "12XB", 0, `unknown unit "XB"`},
		{"case does not matter: Mb is MB", "16Mb", 16e6, ""},
		{"bare M", "16M", 0, "write 16MB (10^6 bytes) or 16MiB (2^20)"},
		{"bare k", "512k", 0, "write 512KB (10^3 bytes) or 512KiB (2^10)"},
		{"fraction of a byte", "1.5", 0, "not a whole number of bytes"},
		{"fraction of a byte in a unit", "0.0001KB", 0, "not a whole number of bytes"},
		{"overflow", "9223372036854775808", 0, "too large"},
		{"overflow in a unit", "9EiB", 0, "unknown unit"},
		{"overflow in TiB", "8388608TiB", 0, "too large"},
		{"exponent", "1e6", 0, "invalid size"},
		{"plus sign", "+5MB", 0, "invalid size"},
		{"two points", "1.2.3MB", 0, "invalid size"},
		{"leading point", ".5MB", 0, "invalid size"},
		{"space inside the number", "1 6MB", 0, "invalid size"},
		{"hex", "0x10", 0, "invalid size"},
		{"unit only", "MB", 0, "invalid size"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse(tc.in)
			switch {
			case tc.err == "" && err != nil:
				t.Fatalf("Parse(%q): %v; want %d", tc.in, err, tc.want)
			case tc.err == "" && got != tc.want:
				t.Fatalf("Parse(%q) = %d; want %d", tc.in, got, tc.want)
			case tc.err != "" && err == nil:
				t.Fatalf("Parse(%q) = %d; want an error with %q", tc.in, got, tc.err)
			case tc.err != "" && !strings.Contains(err.Error(), tc.err):
				t.Fatalf("Parse(%q): %v; want an error with %q", tc.in, err, tc.err)
			case tc.err != "" && !strings.Contains(err.Error(), "16MB") && !strings.Contains(err.Error(), "bytes"):
				t.Fatalf("Parse(%q): %v; want an error that shows a size to write", tc.in, err)
			}
		})
	}
}

// TestFormat: what help prints as a default, and that Parse reads it back.
func TestFormat(t *testing.T) {
	for _, tc := range []struct {
		in   int64
		want string
	}{
		{0, "0"},
		{1, "1"},
		{1500, "1500"},
		{1000, "1KB"},
		{1024, "1KiB"},
		{64 << 10, "64KiB"},
		{16 << 20, "16MiB"},
		{16e6, "16MB"},
		{1 << 30, "1GiB"},
		{3 << 40, "3TiB"},
		{math.MaxInt64, "9223372036854775807"},
	} {
		got := Format(tc.in)
		if got != tc.want {
			t.Errorf("Format(%d) = %q; want %q", tc.in, got, tc.want)
		}
		if back, err := Parse(got); err != nil || back != tc.in {
			t.Errorf("Parse(Format(%d)) = %d, %v", tc.in, back, err)
		}
	}
}

// TestVar: the flags parse through Parse, into an int or an int64; their
// default shows in help in Format's spelling; VarOff also takes off.
func TestVar(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want int64
		off  bool
		err  string
	}{
		{"default", nil, 4 << 20, false, ""},
		{"set", []string{"--size", "16MB"}, 16e6, false, ""},
		{"set with =", []string{"--size=1GiB"}, 1 << 30, false, ""},
		{"garbage names the flag", []string{"--size", "big"}, 0, false, `invalid value "big" for flag -size: invalid size "big": want a number of bytes with an optional unit, e.g. 16MB`},
		{"off refused by Var", []string{"--size", "off"}, 0, false, "invalid size"},
		{"off", []string{"--size", "OFF"}, Off, true, ""},
		{"negative with off says off", []string{"--size", "-1"}, 0, true, "or off to turn it off"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := flag.NewFlagSet("t", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			var v64 int64 = 4 << 20
			var vint int = 4 << 20
			if tc.off {
				VarOff(fs, &v64, "size", "a `size`")
				VarOff(fs, &vint, "size-int", "a `size`")
			} else {
				Var(fs, &v64, "size", "a `size`")
				Var(fs, &vint, "size-int", "a `size`")
			}
			args := append([]string{}, tc.args...)
			for _, a := range tc.args {
				args = append(args, strings.Replace(a, "--size", "--size-int", 1))
			}
			err := fs.Parse(args)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("parse %q: %v; want an error with %q", tc.args, err, tc.err)
				}
				return
			}
			if err != nil || v64 != tc.want || int64(vint) != tc.want {
				t.Fatalf("parse %q: %d, %d, %v; want %d", tc.args, v64, vint, err, tc.want)
			}
			if g := fs.Lookup("size-int").Value.(flag.Getter).Get(); g != int(tc.want) {
				t.Errorf("Get() = %#v; want int %d", g, tc.want)
			}
		})
	}
	var help strings.Builder
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(&help)
	v, zero, off := int64(16<<20), int64(0), int64(Off)
	Var(fs, &v, "upload-rate", "how fast, a `size` per second")
	Var(fs, &zero, "max-body-size", "largest body, a `size`; 0: no limit")
	VarOff(fs, &off, "buffer", "a `size`, or off")
	fs.PrintDefaults()
	for _, want := range []string{"-upload-rate size\n", "(default 16MiB)", "-buffer size\n", "(default off)"} {
		if !strings.Contains(help.String(), want) {
			t.Errorf("help %q: want %q", help.String(), want)
		}
	}
	if strings.Contains(help.String(), "(default 0)") {
		t.Errorf("help %q: a zero default is not shown", help.String())
	}
}
