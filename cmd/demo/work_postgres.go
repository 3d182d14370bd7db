package demo

import (
	"context"
	"errors"
	"fmt"
	"net"
	neturl "net/url"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
)

// PostgresQuery is the PostgreSQL work, as it shows in pg_stat_activity.
const PostgresQuery = `SELECT pg_sleep($1) /* hangup demo */`

// postgresWork runs PostgresQuery on a fixed number of connections.
//
// When a query's context is done, pgx sends PostgreSQL a cancel request
// (CancelRequestContextWatcherHandler): the server stops the statement at
// once and the connection stays usable. pgx's default only drops the
// connection, and a backend busy in a statement does not notice that: it
// would go on for nobody.
type postgresWork struct {
	cfg *pgx.ConnConfig
	// slots holds one entry per connection the pool may have; nil stands
	// for one not yet opened (or dropped).
	slots chan *pgx.Conn
}

// PostgresConnectTimeout bounds the demo's connection to PostgreSQL, at
// start-up and for each new connection of the pool, unless the URL sets
// connect_timeout: an unreachable or silent server is a clear error, not a
// hang.
const PostgresConnectTimeout = 5 * time.Second

// CheckPostgresURL tells whether url is a PostgreSQL URL the demo can use
// (postgres://user:pass@host:port/dbname?param=value), without connecting.
// Its error never shows the password.
func CheckPostgresURL(url string) error {
	_, err := postgresConfig(url)
	return err
}

// postgresConfig parses url into the demo's connection settings.
func postgresConfig(url string) (*pgx.ConnConfig, error) {
	if !strings.HasPrefix(url, "postgres://") && !strings.HasPrefix(url, "postgresql://") {
		return nil, fmt.Errorf("%q is not a PostgreSQL URL: want postgres://user:pass@host:port/dbname", redactURL(url))
	}
	cfg, err := pgx.ParseConfig(url) // its errors redact the password
	if err != nil {
		return nil, err
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = PostgresConnectTimeout
	}
	cfg.BuildContextWatcherHandler = func(c *pgconn.PgConn) ctxwatch.Handler {
		return &pgconn.CancelRequestContextWatcherHandler{Conn: c, DeadlineDelay: 5 * time.Second}
	}
	if cfg.RuntimeParams == nil {
		cfg.RuntimeParams = map[string]string{}
	}
	cfg.RuntimeParams["application_name"] = "hangup demo"
	return cfg, nil
}

// redactURL hides the password of s, if it is a URL that has one.
func redactURL(s string) string {
	if u, err := neturl.Parse(s); err == nil && u.User != nil {
		if _, ok := u.User.Password(); ok {
			return u.Redacted()
		}
	}
	return s
}

// openPostgres prepares a pool of size connections to url and checks that
// the database answers, within the connect timeout.
func openPostgres(ctx context.Context, url string, size int) (*postgresWork, error) {
	cfg, err := postgresConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: bad URL: %w", err)
	}
	p := &postgresWork{cfg: cfg, slots: make(chan *pgx.Conn, size)}
	for range size {
		p.slots <- nil
	}
	// The timeout applies per address a host name resolves to: bound the
	// whole check too.
	check, cancel := context.WithTimeout(ctx, cfg.ConnectTimeout+time.Second)
	defer cancel()
	c, err := p.acquire(check)
	if err == nil {
		err = c.Ping(check)
		p.release(c)
	}
	if err != nil {
		p.close()
		host := net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port)))
		if strings.HasPrefix(cfg.Host, "/") {
			host = cfg.Host // a unix socket directory
		}
		return nil, fmt.Errorf("postgres: cannot connect to %s (connect timeout %v): %w",
			host, cfg.ConnectTimeout, unwrapPostgres(err))
	}
	return p, nil
}

// unwrapPostgres drops the "postgres: " that acquire adds, to say it once.
func unwrapPostgres(err error) error {
	if u := errors.Unwrap(err); u != nil && err.Error() == "postgres: "+u.Error() {
		return u
	}
	return err
}

// acquire takes a connection, waiting for one to be free until ctx is done.
func (p *postgresWork) acquire(ctx context.Context) (*pgx.Conn, error) {
	var c *pgx.Conn
	select {
	case c = <-p.slots:
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting for a postgres connection: %w", context.Cause(ctx))
	}
	if c != nil && !c.IsClosed() {
		return c, nil
	}
	c, err := pgx.ConnectConfig(ctx, p.cfg)
	if err != nil {
		p.slots <- nil //hangup:detached: gives back the slot taken above, which never blocks
		return nil, fmt.Errorf("postgres: %w", err)
	}
	return c, nil
}

// release gives c back; a broken connection is dropped. p.slots holds a
// place for every connection, so the send does not block.
//
//hangup:detached
func (p *postgresWork) release(c *pgx.Conn) {
	if c.IsClosed() || c.PgConn().IsBusy() {
		closeCtx, cancel := context.WithTimeout(context.Background(), time.Second)
		c.Close(closeCtx)
		cancel()
		c = nil
	}
	p.slots <- c
}

func (p *postgresWork) do(ctx context.Context, _ uint64, d time.Duration) (string, error) {
	c, err := p.acquire(ctx)
	if err != nil {
		return "", err
	}
	defer p.release(c)
	if _, err := c.Exec(ctx, PostgresQuery, d.Seconds()); err != nil {
		return "", fmt.Errorf("postgres query: %w", err)
	}
	return fmt.Sprintf("PostgreSQL slept %g s", d.Seconds()), nil
}

// close closes the connections that are back in the pool; it is called once
// no work runs any more.
func (p *postgresWork) close() {
	closeCtx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for {
		select {
		case c := <-p.slots:
			if c != nil {
				c.Close(closeCtx)
			}
		default:
			return
		}
	}
}
