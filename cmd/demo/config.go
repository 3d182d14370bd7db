package demo

import (
	"log/slog"
	"time"

	"github.com/hangup-dev/hangup"
)

// Config configures a demo Server. The zero value works: every field has a
// default, given in its comment.
type Config struct {
	// DataDir holds the embedded SQLite database. Empty means a temporary
	// directory, removed by Close.
	DataDir string
	// PostgresURL, when set (postgres://…), enables the "postgres" work kind.
	// New connects at once: a malformed URL or a server it cannot reach
	// within PostgresConnectTimeout (unless the URL sets connect_timeout)
	// is an error.
	PostgresURL string
	// PostgresPool is how many PostgreSQL connections the demo may hold at
	// once (default 4): a fixed capacity, as a real service has.
	PostgresPool int
	// Workers bounds how many requests do work at once, of any kind
	// (default 4). A request waits for a worker with its context, so one
	// whose client left while waiting never starts.
	Workers int
	// Queue is how many requests may wait for a worker (default 1024);
	// beyond it a request is answered 503 at once.
	Queue int
	// QueueTimeout is the longest a request waits for a worker before it
	// is answered 503 with Retry-After (0, the default: as long as its
	// client waits). Set a little below users' patience, it keeps a full
	// server from working for requests whose users are about to give up.
	QueueTimeout time.Duration
	// Seconds is how long /slow works when the request does not say
	// (default 10, the seed's).
	Seconds float64
	// MaxUpload is the largest body /upload accepts (default 1 GiB); a
	// larger one is answered 413.
	MaxUpload int64
	// UploadRate is how fast /upload reads the body, in bytes per second
	// (default 16 MiB/s): slow enough for a person to abort an upload.
	UploadRate int64
	// UploadCheck is how long /upload's "authorization check" (a query on
	// the embedded database) runs before the body is read (default 2s).
	UploadCheck time.Duration
	// IgnoreDisconnect runs every handler's work on
	// context.WithoutCancel(r.Context()): the work goes on for clients that
	// left, as without hangup, so that the two can be compared.
	IgnoreDisconnect bool
	// Logger receives the per-request lines (received, progress, completed,
	// cancelled). Default: slog.Default().
	Logger *slog.Logger
	// AccessLog adds hangup's access log (status 499 for gone clients) to
	// Logger.
	AccessLog bool
	// OnAbandon, if set, is called after the demo's own hook for every
	// request whose client went away (see hangup.OnAbandon).
	OnAbandon func(hangup.Report)
	// ShutdownGrace is how long Serve lets running requests finish once its
	// context is done, before it cancels their work (default 3s).
	ShutdownGrace time.Duration
	// SQLiteRate skips the calibration of the SQLite work: rows per second
	// the counting query runs at. Zero means calibrate at startup.
	SQLiteRate float64
}

// Limits of the seconds parameter of /slow.
const (
	maxSeconds = 600
)

func (c Config) withDefaults() Config {
	if c.PostgresPool <= 0 {
		c.PostgresPool = 4
	}
	if c.Workers <= 0 {
		c.Workers = 4
	}
	if c.Queue <= 0 {
		c.Queue = 1024
	}
	if c.Seconds <= 0 {
		c.Seconds = 10
	}
	if c.MaxUpload <= 0 {
		c.MaxUpload = 1 << 30
	}
	if c.UploadRate <= 0 {
		c.UploadRate = 16 << 20
	}
	if c.UploadCheck <= 0 {
		c.UploadCheck = 2 * time.Second
	}
	if c.ShutdownGrace <= 0 {
		c.ShutdownGrace = 3 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}
