package demo

import (
	"context"
	"fmt"
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

// openPostgres prepares a pool of size connections to url and checks that
// the database answers.
func openPostgres(ctx context.Context, url string, size int) (*postgresWork, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	cfg.BuildContextWatcherHandler = func(c *pgconn.PgConn) ctxwatch.Handler {
		return &pgconn.CancelRequestContextWatcherHandler{Conn: c, DeadlineDelay: 5 * time.Second}
	}
	if cfg.RuntimeParams == nil {
		cfg.RuntimeParams = map[string]string{}
	}
	cfg.RuntimeParams["application_name"] = "hangup demo"
	p := &postgresWork{cfg: cfg, slots: make(chan *pgx.Conn, size)}
	for range size {
		p.slots <- nil
	}
	check, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, err := p.acquire(check)
	if err != nil {
		p.close()
		return nil, err
	}
	err = c.Ping(check)
	p.release(c)
	if err != nil {
		p.close()
		return nil, fmt.Errorf("postgres: %w", err)
	}
	return p, nil
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
		p.slots <- nil
		return nil, fmt.Errorf("postgres: %w", err)
	}
	return c, nil
}

// release gives c back; a broken connection is dropped.
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
