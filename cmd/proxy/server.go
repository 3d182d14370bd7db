package proxy

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"time"

	"github.com/hangup-dev/hangup"
)

// Serve runs the proxy on ln until ctx is done, and the admin endpoints
// (/metrics, /healthz; see AdminHandler) on admin unless it is nil. The
// server has hangup installed, so every request's upstream request is
// cancelled the moment its client leaves; it speaks TLS (and HTTP/2) when
// Config.TLSConfig is set, terminated by its listener (tlslisten.go), h2c
// next to HTTP/1 when Config.H2C is.
//
// When ctx is done, Serve stops accepting, tells /healthz to answer 503,
// waits up to Config.ShutdownTimeout for in-flight requests (queued ones
// included) to finish, then closes what is left. It returns nil after a clean
// shutdown, and an error if it had to cut requests or a listener failed (at
// once if Config.TLSConfig has no certificate). It closes both listeners.
func (p *Proxy) Serve(ctx context.Context, ln, admin net.Listener) error {
	cfg := &p.cfg
	srv := &http.Server{
		Handler:           p,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		MaxHeaderBytes:    cfg.MaxHeaderBytes,
		IdleTimeout:       cfg.IdleTimeout,
		TLSConfig:         cfg.TLSConfig,
		ErrorLog:          p.errorLog(),
	}
	if cfg.H2C {
		srv.Protocols = new(http.Protocols)
		srv.Protocols.SetHTTP1(true)
		srv.Protocols.SetUnencryptedHTTP2(true)
		if cfg.TLSConfig != nil {
			srv.Protocols.SetHTTP2(true)
		}
	}
	// Before Install, which chains the hooks this sets (rejected.go).
	served, err := p.watchRejections(srv, ln)
	if err != nil {
		ln.Close()
		if admin != nil {
			admin.Close()
		}
		return err
	}
	g := hangup.Install(srv, cfg.GuardOptions...)

	p.ups.startChecks()
	errc := make(chan error, 2)
	running := 1
	go func() { errc <- srv.Serve(served) }()
	var adminSrv *http.Server
	if admin != nil {
		adminSrv = &http.Server{
			Handler:           p.AdminHandler(g),
			ReadHeaderTimeout: cfg.ReadHeaderTimeout,
			ErrorLog:          log.New(p.errorLog().Writer(), "admin: ", 0),
		}
		running++
		go func() { errc <- adminSrv.Serve(admin) }()
	}

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
		running--
	}
	p.draining.Store(true)
	if p.log != nil {
		p.log.Info("shutting down", "timeout", cfg.ShutdownTimeout)
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	start := time.Now()
	var shutErr error
	if err := g.Shutdown(shutCtx); err != nil {
		inFlight := g.Stats().InFlight
		srv.Close()
		if ctxErr := shutCtx.Err(); ctxErr != nil {
			// g.Shutdown joins the server's error and the context's cause,
			// which here are the same: keep the message on one line.
			err = ctxErr
		}
		shutErr = fmt.Errorf("proxy: %d requests still running %s after shutdown began were cut: %w", inFlight, time.Since(start).Round(time.Millisecond), err)
	}
	if adminSrv != nil {
		adminSrv.Close()
	}
	for ; running > 0; running-- {
		if err := <-errc; serveErr == nil {
			serveErr = err
		}
	}
	if p.co != nil {
		// Every waiter has left, so every flight is finished or cancelled.
		p.co.wg.Wait()
	}
	p.ups.stopChecks() // before their connections are closed
	p.transport.CloseIdleConnections()
	if errors.Is(serveErr, http.ErrServerClosed) {
		serveErr = nil
	}
	return errors.Join(serveErr, shutErr)
}
