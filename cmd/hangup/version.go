package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"
)

func init() {
	register("version", "the version of this build, and Go's (also hangup --version)", runVersion)
}

const versionUsage = `usage: hangup version

Prints the version of this build: the module's version when installed with
go install …@version; built from a checkout, the commit (vcs.revision) and
whether the checkout had uncommitted changes (vcs.modified). Then the Go
version it was built with. "hangup --version" and "hangup -version" are the
same.
`

// runVersion is "hangup version".
func runVersion(_ context.Context, args []string, stdout, _ io.Writer) error {
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	if err := parseFlags(fs, args, versionUsage, nil, stdout); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q; hangup version takes none: %w", fs.Arg(0), errUsage)
	}
	bi, _ := debug.ReadBuildInfo()
	fmt.Fprintln(stdout, versionLine(bi))
	return nil
}

// versionLine is the line "hangup version" prints, from the build
// information: "hangup v0.1.0 go1.26.8 linux/amd64" for a release; from a
// checkout, the version go build made up (a pseudo-version since Go 1.24,
// "(devel)" before and for go run) followed by vcs.revision and
// vcs.modified, which tell the commit when the version does not. A binary
// without build information (bi nil) says "(unknown)".
func versionLine(bi *debug.BuildInfo) string {
	if bi == nil {
		return fmt.Sprintf("hangup (unknown) %s %s/%s", runtime.Version(), runtime.GOOS, runtime.GOARCH)
	}
	parts := []string{"hangup", bi.Main.Version}
	if bi.Main.Version == "" {
		parts[1] = "(devel)"
	}
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" || s.Key == "vcs.modified" {
			parts = append(parts, s.Key+"="+s.Value)
		}
	}
	goVersion := bi.GoVersion
	if goVersion == "" {
		goVersion = runtime.Version()
	}
	return strings.Join(append(parts, goVersion, runtime.GOOS+"/"+runtime.GOARCH), " ")
}
