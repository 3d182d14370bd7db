package demo

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/hangup-dev/hangup"
)

// handleUpload receives an upload the way a careful service does: it
// refuses one without credentials at once, without reading the body (the
// client still gets the whole 401: net/http reads a little of the body and
// then closes gently, its "lingering close"); otherwise it checks the
// credentials first, with the body still unread, then reads and stores the
// body at UploadRate. A client that leaves during the check is seen in phase
// handler, one that leaves during the body in phase reading_body.
func (s *Server) handleUpload(w http.ResponseWriter, r *http.Request, rs *reqState) {
	rs.work = WorkUpload
	if r.Header.Get("Authorization") == "" {
		rs.outcome, rs.status = OutcomeRejected, http.StatusUnauthorized
		rs.result = "no Authorization header: refused at once, body unread"
		rs.log.Info("rejected at once, body unread", "status", rs.status, "content_length", r.ContentLength)
		w.Header().Set("WWW-Authenticate", `Bearer realm="hangup demo"`)
		http.Error(w, "401 Unauthorized: send an Authorization header (the body was not read)", rs.status)
		return
	}
	if r.ContentLength > s.cfg.MaxUpload {
		s.tooLarge(w, rs, r.ContentLength)
		return
	}
	ctx, cancel := s.workContext(r)
	defer cancel()
	var read atomic.Int64
	var reading atomic.Bool
	out := s.runJob(ctx, r, rs, job{
		kind: WorkUpload,
		run: func(ctx context.Context) (string, error) {
			if _, err := s.sqlite.count(ctx, s.sqlite.rowsFor(s.cfg.UploadCheck)); err != nil {
				return "", fmt.Errorf("authorization check (body unread): %w", err)
			}
			rs.log.Info("authorized; reading the body", "content_length", r.ContentLength)
			s.publish(rs, Event{Kind: "note", Detail: "authorized; reading the body"})
			reading.Store(true)
			return s.receive(ctx, w, r, &read)
		},
		progress: func(el time.Duration) (float64, string) {
			if !reading.Load() {
				return 0, "checking authorization, body unread"
			}
			n := read.Load()
			if r.ContentLength <= 0 {
				return 0.5, fmt.Sprintf("%s read", mb(n))
			}
			return float64(n) / float64(r.ContentLength), fmt.Sprintf("%s of %s read", mb(n), mb(r.ContentLength))
		},
	})
	if mbe := (*http.MaxBytesError)(nil); errors.As(out.err, &mbe) && out.outcome == OutcomeFailed {
		s.tooLarge(w, rs, read.Load())
		return
	}
	s.finishJob(w, r, rs, out)
	if out.outcome == OutcomeCompleted || out.outcome == OutcomeWasted {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, out.res)
	}
}

// receive reads the body at UploadRate, hashes it and records it.
func (s *Server) receive(ctx context.Context, w http.ResponseWriter, r *http.Request, read *atomic.Int64) (string, error) {
	body := http.MaxBytesReader(w, r.Body, s.cfg.MaxUpload)
	h := sha256.New()
	buf := make([]byte, 64<<10)
	start := time.Now()
	for {
		n, err := body.Read(buf)
		h.Write(buf[:n])
		total := read.Add(int64(n))
		s.metrics.uploadBytes.Add(float64(n))
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if mbe := (*http.MaxBytesError)(nil); !errors.As(err, &mbe) {
				awaitGone(r)
			}
			return "", fmt.Errorf("reading the body after %s: %w", mb(total), err)
		}
		// Pace the reading, as a slow disk or a virus scanner would.
		due := start.Add(time.Duration(float64(total) / float64(s.cfg.UploadRate) * float64(time.Second)))
		if wait := time.Until(due); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return "", fmt.Errorf("reading the body after %s: %w", mb(total), context.Cause(ctx))
			}
		}
	}
	total := read.Load()
	sum := hex.EncodeToString(h.Sum(nil))
	if err := s.sqlite.recordUpload(ctx, total, sum); err != nil {
		return "", fmt.Errorf("recording the upload: %w", err)
	}
	return fmt.Sprintf("stored %d bytes, sha256 %s", total, sum[:16]), nil
}

// bodyErrGrace is how long a failed body read waits for hangup to confirm
// that the client left.
const bodyErrGrace = 2 * time.Second

// awaitGone waits, at most bodyErrGrace, for hangup to see the client of r
// leave, after reading its body failed. A client that aborts an upload makes
// the read fail (unexpected EOF, connection reset) just as hangup's watcher
// sees the connection close, and the read can win the race: waiting keeps
// such an upload from being counted as failed instead of cancelled.
func awaitGone(r *http.Request) {
	t := time.NewTimer(bodyErrGrace)
	defer t.Stop()
	select {
	case <-hangup.Gone(r.Context()):
	case <-t.C:
	}
}

func (s *Server) tooLarge(w http.ResponseWriter, rs *reqState, n int64) {
	rs.outcome, rs.status = OutcomeRejected, http.StatusRequestEntityTooLarge
	rs.err = fmt.Errorf("body larger than the limit of %s", mb(s.cfg.MaxUpload))
	rs.log.Info("rejected", "status", rs.status, "size", n, "max_upload", s.cfg.MaxUpload)
	http.Error(w, "413 Request Entity Too Large: the limit is "+mb(s.cfg.MaxUpload), rs.status)
}

// mb formats n bytes in MiB.
func mb(n int64) string { return fmt.Sprintf("%.1f MB", float64(n)/(1<<20)) }
