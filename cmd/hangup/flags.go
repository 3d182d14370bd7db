package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// parseFlags is every command's fs.Parse, so that they all behave alike: -h,
// -help and --help print usage and then the flags to stdout and return
// flag.ErrHelp (exit 0); a flag in renamed (old name → new name) is an
// error that gives the new name (exit 2) rather than a silent alias, so
// that scripts are fixed once instead of drifting; any other parse error is
// one line that points at the command's -h (exit 2).
func parseFlags(fs *flag.FlagSet, args []string, usage string, renamed map[string]string, stdout io.Writer) error {
	fs.SetOutput(io.Discard) // errors come back as one line through main
	fs.Usage = func() {}     // flag calls it on every error: print it for -h only
	if err := checkRenamed(fs, args, renamed); err != nil {
		return err
	}
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, usage)
		fs.SetOutput(stdout)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
		return err
	}
	if err != nil {
		return fmt.Errorf("%v (see hangup %s -h): %w", err, fs.Name(), errUsage)
	}
	return nil
}

// checkRenamed walks args as fs.Parse will, up to the first argument that is
// not a flag or "--", and fails on the first flag renamed lists. The old
// names are not defined in fs, so that help does not show them: the walk
// has to know which flags take a value to skip it.
func checkRenamed(fs *flag.FlagSet, args []string, renamed map[string]string) error {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if len(a) < 2 || a[0] != '-' || a == "--" {
			return nil
		}
		name, _, hasValue := strings.Cut(strings.TrimPrefix(a[1:], "-"), "=")
		if to, ok := renamed[name]; ok {
			return fmt.Errorf("flag --%s was renamed --%s (see hangup %s -h): %w", name, to, fs.Name(), errUsage)
		}
		f := fs.Lookup(name)
		if f == nil {
			return nil // fs.Parse says what is wrong
		}
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); !hasValue && !(ok && b.IsBoolFlag()) {
			i++ // its value
		}
	}
	return nil
}
