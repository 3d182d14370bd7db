// Command hangup runs hangup's demo, reverse proxy and load generator.
//
// Usage:
//
//	hangup demo  [flags]   the cancellation demo on :8888
//	hangup proxy [flags]   a reverse proxy that stops upstream work for clients that left
//	hangup storm [flags]   a load generator of impatient users
//	hangup version         the version, from the build information
//
// Run "hangup help <command>" or "hangup <command> -h" for the flags of each
// command.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
)

// command is one subcommand; each lives in its own file and registers itself in init.
type command struct {
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

var commands = map[string]command{}

func register(name, summary string, run func(ctx context.Context, args []string, stdout, stderr io.Writer) error) {
	commands[name] = command{summary: summary, run: run}
}

// commandNames are the registered commands, sorted.
func commandNames() []string {
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: hangup <command> [flags]")
	fmt.Fprintln(w)
	for _, n := range commandNames() {
		fmt.Fprintf(w, "  %-8s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, `Run "hangup help <command>" or "hangup <command> -h" for the flags of a command.`)
}

// unknownCommand is the one line for a command that does not exist, naming
// those that do.
func unknownCommand(stderr io.Writer, name string) int {
	fmt.Fprintf(stderr, "hangup: unknown command %q; the commands are %s (see hangup -h)\n", name, strings.Join(commandNames(), ", "))
	return 2
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run maps a command's error to an exit code: 0 ok, 2 usage, an
// exitError's own code, 1 anything else.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		// No command is a usage error: the list goes where errors go.
		usage(stderr)
		return 2
	}
	if args[0] == "-h" || args[0] == "--help" || args[0] == "-help" {
		usage(stdout)
		return 0
	}
	switch args[0] {
	case "help":
		// "hangup help CMD" is "hangup CMD -h": the command's own usage,
		// on stdout.
		switch len(args) {
		case 1:
			usage(stdout)
			return 0
		case 2:
			if _, ok := commands[args[1]]; !ok {
				return unknownCommand(stderr, args[1])
			}
			args = []string{args[1], "-h"}
		default:
			fmt.Fprintf(stderr, "hangup help: want one command, got %q (see hangup -h)\n", strings.Join(args[1:], " "))
			return 2
		}
	case "--version", "-version":
		args = []string{"version"}
	}
	cmd, ok := commands[args[0]]
	if !ok {
		return unknownCommand(stderr, args[0])
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := cmd.run(ctx, args[1:], stdout, stderr)
	var exit *exitError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &exit):
		for _, l := range exit.lines {
			fmt.Fprintf(stderr, "hangup %s: %s\n", args[0], l)
		}
		return exit.code
	case errors.Is(err, errUsage):
		// The mark is for this switch, not for the user: the message
		// already says what to fix.
		fmt.Fprintf(stderr, "hangup %s: %s\n", args[0], usageText(err))
		return 2
	default:
		fmt.Fprintf(stderr, "hangup %s: %v\n", args[0], err)
		return 1
	}
}

// exitError is a command's verdict with an exit code of its own (storm's
// failed thresholds: 3), and the lines that say why, one a line.
type exitError struct {
	code  int
	lines []string
}

func (e *exitError) Error() string { return strings.Join(e.lines, "; ") }

// errUsage marks errors caused by bad flags or arguments (exit code 2).
var errUsage = errors.New("usage error")

// usageText is err's message without the mark, which is for run's switch,
// not for the user: the message already says what to fix.
func usageText(err error) string {
	return strings.TrimSuffix(err.Error(), ": "+errUsage.Error())
}

// hangupMessage is what a server command logs on SIGHUP, and
// proxyHangupMessage what the proxy logs without a --config file.
const (
	hangupMessage      = "SIGHUP: reload is not supported yet; ignoring"
	proxyHangupMessage = "SIGHUP: nothing to reload without --config; ignoring"
)

// ignoreHangup makes SIGHUP a log line instead of the end of the process, for
// the commands that serve traffic (demo, proxy). Its default action exits at
// once (status 129) and drops every request in flight, with no log line
// (issue 16, case 7); service managers send it to mean "reload", and a proxy
// must never lose traffic to it. The storm keeps the default: a load
// generator whose terminal went away should stop. stop undoes it and returns
// once no more line can be logged.
func ignoreHangup(log *slog.Logger) (stop func()) {
	return onHangup(func() { log.Warn(hangupMessage) })
}

// onHangup calls do at each SIGHUP, one call at a time, instead of the
// signal's default (see ignoreHangup). stop undoes it and returns once do
// is no longer running.
func onHangup(do func()) (stop func()) {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGHUP)
	done := make(chan struct{})
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		for {
			select {
			case <-sig:
				do()
			case <-done:
				return
			}
		}
	}()
	return func() {
		signal.Stop(sig)
		close(done)
		<-exited
	}
}
