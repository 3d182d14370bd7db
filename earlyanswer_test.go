package hangup_test

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"
)

// TestEarlyAnswerSurvives is the seeds' graceful-close case: the handler
// answers 401 with a 2 MB body without reading a 5 MB upload. net/http
// lingers (closeWriteAndWait) so that the client's kernel does not answer the
// unread upload with an RST that destroys the answer; hangup must not break
// that, and must not count such a client as gone. 200 trials, every response
// complete.
func TestEarlyAnswerSurvives(t *testing.T) {
	trials := 200
	if testing.Short() {
		trials = 20
	}
	answer := bytes.Repeat([]byte("denied. "), 2<<20/8)
	s := startServer(t, serverOpts{handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
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
	if st := s.g.Stats(); st.GoneTotal() > 0 {
		t.Fatalf("%d of %d clients that read their whole answer were counted gone (by phase: %v)", st.GoneTotal(), trials, st.Gone)
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
