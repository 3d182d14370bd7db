package hangup_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hangup-dev/hangup"
)

// TestEarlyAnswerSurvives is the seeds' graceful-close case: the handler
// answers 401 with a 2 MB body without reading a 5 MB upload. net/http
// lingers (closeWriteAndWait) so that the client's kernel does not answer the
// unread upload with an RST that destroys the answer; hangup must not break
// that, and must not take such a client for one that abandoned its answer.
// 200 trials, every response complete.
//
// The client closes as soon as it has read the whole answer, and now and
// then (1 to 3 trials in 200 under -race) it does so before the handler has
// returned: the watcher then sees a real departure, in phase
// writing_response. Such a request is not abandoned (OnAbandon is not
// called, the log says 401, not 499) but Stats.Gone counts it, because the
// departure is counted when it is seen and whether the response was complete
// is known only once the handler returned. The test asserts what holds:
// nobody is reported to have abandoned anything, and every departure counted
// came after the whole answer was written.
func TestEarlyAnswerSurvives(t *testing.T) {
	trials := 200
	if testing.Short() {
		trials = 20
	}
	answer := bytes.Repeat([]byte("denied. "), 2<<20/8)
	var abandoned atomic.Int64
	var log syncBuffer
	s := startServer(t, serverOpts{opts: []hangup.Option{
		hangup.OnAbandon(func(hangup.Report) { abandoned.Add(1) }),
		hangup.WithAccessLog(slog.New(slog.NewJSONHandler(&log, nil))),
	}, handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(answer)))
		w.WriteHeader(http.StatusUnauthorized)
		w.Write(answer)
	})})
	upload := bytes.Repeat([]byte("u"), 5<<20)
	for i := 0; i < trials; i++ {
		if err := earlyAnswerTrial(s.addr(), upload, len(answer)); err != nil {
			t.Fatalf("trial %d: %v", i, err)
		}
	}
	s.srv.Close() // every handler has returned and logged
	if n := abandoned.Load(); n > 0 {
		t.Errorf("%d of %d clients that read their whole answer were reported to have abandoned it", n, trials)
	}
	var lines, goneAfterAnswer uint64
	for _, l := range strings.Split(strings.TrimSpace(log.String()), "\n") {
		var e struct {
			Status   int    `json:"status"`
			BytesOut int64  `json:"bytes_out"`
			Phase    string `json:"gone_phase"`
		}
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("access log line %q: %v", l, err)
		}
		lines++
		if e.Status != http.StatusUnauthorized || e.BytesOut != int64(len(answer)) {
			t.Errorf("logged %s; want every request logged 401 with its whole answer", l)
		}
		if e.Phase != "" {
			if e.Phase != hangup.PhaseWritingResponse.String() {
				t.Errorf("logged %s; a client counted gone before its answer was written", l)
			}
			goneAfterAnswer++
		}
	}
	if lines != uint64(trials) {
		t.Errorf("%d access log lines for %d requests", lines, trials)
	}
	if st := s.g.Stats(); st.GoneTotal() != goneAfterAnswer {
		t.Errorf("Stats counts %d departures (stats %+v), the log %d, all after the whole answer", st.GoneTotal(), st, goneAfterAnswer)
	}
}

func earlyAnswerTrial(addr string, upload []byte, want int) error {
	c, err := net.DialTimeout("tcp", addr, waitLong)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * waitLong))
	go func() {
		// The upload goes on regardless of the answer, as a browser's does;
		// its write fails once the server closes.
		io.WriteString(c, "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: "+strconv.Itoa(len(upload))+"\r\n\r\n")
		c.Write(upload)
	}()
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return err
	}
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusUnauthorized || int(n) != want {
		return &badAnswer{resp.StatusCode, n}
	}
	return nil
}

type badAnswer struct {
	status int
	n      int64
}

func (b *badAnswer) Error() string {
	return "got status " + strconv.Itoa(b.status) + " with " + strconv.FormatInt(b.n, 10) + " body bytes"
}

// TestEarlyAnswerCarelessCloseLosesIt is the control that shows the trial
// above can fail: a server that writes the same answer and closes at once,
// with the upload unread, makes its kernel send RST and the client loses the
// answer.
func TestEarlyAnswerCarelessCloseLosesIt(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	answer := bytes.Repeat([]byte("denied. "), 2<<20/8)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			br := bufio.NewReader(c)
			if _, err := http.ReadRequest(br); err == nil {
				io.WriteString(c, "HTTP/1.1 401 Unauthorized\r\nContent-Length: "+strconv.Itoa(len(answer))+"\r\nConnection: close\r\n\r\n")
				c.Write(answer)
			}
			c.Close()
		}
	}()
	upload := bytes.Repeat([]byte("u"), 5<<20)
	lost := 0
	for i := 0; i < 20; i++ {
		if earlyAnswerTrial(ln.Addr().String(), upload, len(answer)) != nil {
			lost++
		}
	}
	ln.Close()
	<-done
	if lost == 0 {
		t.Fatal("a careless close never lost the answer: the trial cannot tell a graceful close from a careless one")
	}
	t.Logf("careless close lost %d of 20 answers", lost)
}
