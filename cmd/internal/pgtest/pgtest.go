// Package pgtest starts a real, throwaway PostgreSQL server for a test: its
// own data directory, socket directory and loopback port, stopped and removed
// when the test ends. It takes about a second.
//
// It needs PostgreSQL's server binaries (BinDir, or $PGTEST_BINDIR). Without
// them the test is skipped, except under CI (CI=true), where it fails: CI
// installs PostgreSQL, and a skipped test there would hide a broken setup.
//
// initdb and postgres refuse to run as root: as root, pgtest runs them as the
// user "postgres" (runuser), in directories it hands over to that user.
package pgtest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// BinDir is where PostgreSQL's server binaries are looked for, unless
// $PGTEST_BINDIR says otherwise.
const BinDir = "/usr/lib/postgresql/15/bin"

// Server is a running throwaway PostgreSQL server.
type Server struct {
	// URL connects as the superuser "postgres", without password, to the
	// database "postgres".
	URL  string
	Port int
	Dir  string // data, socket and log live here
	bin  string
}

// Start starts a PostgreSQL server for t and stops it, removing its files,
// when t ends. It skips t when PostgreSQL is not installed, unless CI=true.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := os.Getenv("PGTEST_BINDIR")
	if bin == "" {
		bin = BinDir
	}
	for _, name := range []string{"initdb", "pg_ctl", "postgres"} {
		if _, err := os.Stat(filepath.Join(bin, name)); err != nil {
			unavailable(t, fmt.Sprintf("PostgreSQL is not installed (%v); apt-get install postgresql", err))
		}
	}
	var owner *user.User
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			unavailable(t, "running as root and there is no user postgres to run PostgreSQL as: "+err.Error())
		}
		owner = u
	}

	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Dir: dir, bin: bin}
	t.Cleanup(func() { os.RemoveAll(dir) })
	for _, d := range []string{s.data(), s.sock()} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if owner != nil {
		uid, _ := strconv.Atoi(owner.Uid)
		gid, _ := strconv.Atoi(owner.Gid)
		for _, d := range []string{dir, s.data(), s.sock()} {
			if err := os.Chown(d, uid, gid); err != nil {
				t.Fatal(err)
			}
		}
	}

	if out, err := s.run("initdb", "-D", s.data(), "-A", "trust", "-U", "postgres",
		"-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"); err != nil {
		t.Fatalf("pgtest: initdb: %v\n%s", err, out)
	}
	// A free port can be taken between our probe and the server's bind:
	// try a few.
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		port, err := freePort()
		if err != nil {
			t.Fatal(err)
		}
		opts := fmt.Sprintf("-c listen_addresses=127.0.0.1 -p %d -k %s -c fsync=off -c full_page_writes=off -c synchronous_commit=off", port, s.sock())
		out, err := s.run("pg_ctl", "-D", s.data(), "-o", opts, "-l", filepath.Join(dir, "postgres.log"), "-w", "-t", "60", "start")
		if err == nil {
			s.Port = port
			break
		}
		lastErr = fmt.Errorf("%v\n%s\n%s", err, out, s.Log())
	}
	if s.Port == 0 {
		t.Fatalf("pgtest: pg_ctl start: %v", lastErr)
	}
	t.Cleanup(func() {
		if out, err := s.run("pg_ctl", "-D", s.data(), "-m", "immediate", "-w", "stop"); err != nil {
			t.Errorf("pgtest: pg_ctl stop: %v\n%s", err, out)
		}
	})
	s.URL = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", s.Port)
	return s
}

// Connect opens a connection to s, closed when t ends.
func (s *Server) Connect(t testing.TB) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, s.URL)
	if err != nil {
		t.Fatalf("pgtest: connect: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c.Close(ctx)
	})
	return c
}

// Log returns the server's log so far, for a failing test to show.
func (s *Server) Log() string {
	b, _ := os.ReadFile(filepath.Join(s.Dir, "postgres.log"))
	return string(b)
}

func (s *Server) data() string { return filepath.Join(s.Dir, "data") }
func (s *Server) sock() string { return filepath.Join(s.Dir, "sock") }

// run runs one of PostgreSQL's programs, as the user postgres when root.
func (s *Server) run(name string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	path := filepath.Join(s.bin, name)
	var cmd *exec.Cmd
	if os.Geteuid() == 0 {
		cmd = exec.CommandContext(ctx, "runuser", append([]string{"-u", "postgres", "--", path}, args...)...)
	} else {
		cmd = exec.CommandContext(ctx, path, args...)
	}
	cmd.Dir = s.Dir
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	return cmd.CombinedOutput()
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// unavailable skips t, or fails it under CI.
func unavailable(t testing.TB, why string) {
	t.Helper()
	if strings.EqualFold(os.Getenv("CI"), "true") {
		t.Fatal("pgtest: " + why + " (CI=true: PostgreSQL is required)")
	}
	t.Skip("pgtest: " + why)
}
