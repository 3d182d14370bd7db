package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"syscall"
	"time"

	"github.com/hangup-dev/hangup"
)

// A client that leaves while its body is being forwarded breaks the body's
// read (an unexpected EOF after its FIN, ECONNRESET after its RST) at the
// same moment as hangup's watcher hears of it, and the Transport fails the
// upstream request with that read error, often before the watcher has
// cancelled the request. Taken at its word, the error would be logged as a
// 502 and counted as an upstream error, when the upstream did nothing wrong
// and nobody waits for an answer. So an upstream request that fails after
// the client's body broke off is the client's doing: the proxy waits, briefly,
// for hangup's verdict on the connection, and takes its departure (phase,
// reason) as the cause.

// verdictWait bounds the wait for hangup's verdict on a client whose body
// broke off. The kernel already holds the FIN or RST that broke the read, so
// the watcher reports it at its next wake-up; the bound is for a verdict that
// never comes: a half-close under hangup.HalfCloseWaits, or a server without
// hangup.Install.
const verdictWait = time.Second

// errBodyCut is the cause of a request whose client half-closed its
// connection before the end of its body, without hangup calling it gone
// (HalfCloseWaits, or no hangup.Install): the request cannot be completed,
// and the client, which may still read, is told so with 400.
var errBodyCut = errors.New("proxy: the client's request body ended before its declared end (the client closed its side of the connection mid-body)")

// clientBroke reports whether err, from reading the client's body, is its
// connection breaking off: closed (unexpected EOF) or reset.
func clientBroke(err error) bool {
	return errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.ECONNABORTED) || errors.Is(err, syscall.EPIPE)
}

// failureCause decides what ended an upstream request, with context ctx
// and record rec (nil: none), that failed with err, whatever the Transport
// made of it: the client's departure; what was wrong with the client's body
// (ErrClientBody, ErrClientBodyTimeout, ErrBodyTooLarge); the request's
// cancellation (ErrUpstreamTimeout, a server's close); or, once the
// client's body broke off, hangup's verdict on the client (waited for).
// Otherwise err itself.
func failureCause(ctx context.Context, rec *record, err error) error {
	cause := context.Cause(ctx)
	if errors.Is(cause, hangup.ErrClientGone) {
		return cause
	}
	var bodyErr error
	if rec != nil {
		bodyErr = rec.body.readErr()
	}
	switch {
	case errors.Is(bodyErr, ErrClientBody), errors.Is(bodyErr, ErrClientBodyTimeout), errors.Is(bodyErr, ErrBodyTooLarge):
		return bodyErr
	case cause != nil:
		if errors.Is(err, cause) {
			return err
		}
		return cause
	case clientBroke(bodyErr):
		return clientVerdict(ctx, bodyErr)
	}
	return err
}

// clientVerdict waits for hangup's verdict on a client whose body broke off
// with bodyErr, and returns it as the cause.
func clientVerdict(ctx context.Context, bodyErr error) error {
	t := time.NewTimer(verdictWait)
	defer t.Stop()
	select {
	case <-hangup.Gone(ctx):
		if d, ok := hangup.Departed(ctx); ok {
			return &hangup.GoneError{Departure: d}
		}
	case <-t.C:
	}
	if errors.Is(bodyErr, io.ErrUnexpectedEOF) {
		return errBodyCut
	}
	// Reset: nobody can read an answer, whatever hangup made of it.
	return fmt.Errorf("%w: its connection was reset while its request body was forwarded (%v)", hangup.ErrClientGone, bodyErr)
}
