package demo_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hangup-dev/hangup/cmd/demo"
)

const fiveMB = 5 << 20

// uploadHead is the head of a POST /upload of n bytes.
func uploadHead(n int, auth bool) string {
	h := fmt.Sprintf("POST /upload HTTP/1.1\r\nHost: demo\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\n", n)
	if auth {
		h += "Authorization: Bearer test\r\n"
	}
	return h + "\r\n"
}

// pour writes n bytes to c in the background, as an uploading client does,
// until done or a write fails; the returned channel tells how many it wrote.
func pour(c net.Conn, n int) <-chan int {
	wrote := make(chan int, 1)
	go func() {
		chunk := bytes.Repeat([]byte("hangup!\n"), 8<<10)
		total := 0
		for total < n {
			k, err := c.Write(chunk[:min(len(chunk), n-total)])
			total += k
			if err != nil {
				break
			}
		}
		wrote <- total
	}()
	return wrote
}

// TestUploadUnauthorizedAnsweredWhole: a client uploading 5 MB without
// credentials receives the whole 401 while it is still sending: the server
// answers at once without reading the body, and net/http's lingering close
// lets the answer arrive before the connection is dropped.
func TestUploadUnauthorizedAnsweredWhole(t *testing.T) {
	t.Parallel()
	d := startDemo(t, demo.Config{})
	c := d.send(uploadHead(fiveMB, false))
	wrote := pour(c, fiveMB)
	c.SetReadDeadline(time.Now().Add(waitLong))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("reading the answer while uploading: %v", err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("reading the 401's body: %v (got %q)", err, body)
	}
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(string(body), "Authorization") {
		t.Fatalf("answer %s %q, want 401", resp.Status, body)
	}
	if resp.Header.Get("WWW-Authenticate") == "" {
		t.Errorf("401 without WWW-Authenticate")
	}
	c.Close()
	t.Logf("401 received whole (%d body bytes) after the client had sent %d of %d bytes", len(body), <-wrote, fiveMB)
	end := d.waitEvent("end of the 401", func(e demo.Event) bool { return e.Kind == "end" && e.Status == 401 })
	if end.Outcome != demo.OutcomeRejected {
		t.Errorf("outcome %q, want rejected", end.Outcome)
	}
}

// TestUploadAbortedWhileReadingBody: a client that leaves in the middle of
// its body is seen in phase reading_body, and the reading stops.
func TestUploadAbortedWhileReadingBody(t *testing.T) {
	t.Parallel()
	d := startDemo(t, demo.Config{UploadCheck: 50 * time.Millisecond, UploadRate: 1 << 20})
	c := d.send(uploadHead(fiveMB, true))
	// What the client sent before leaving is read before its FIN is seen
	// (TCP delivers in order): send little, for a quick test.
	wrote := pour(c, 1<<20)
	id := d.waitStart(c.LocalAddr())
	d.waitEvent("the body is being read", func(e demo.Event) bool {
		return e.ID == id && e.Kind == "progress" && e.Progress > 0
	})
	c.Close()
	<-wrote
	end := d.waitKind(id, "end")
	expectGoneEnd(t, end, demo.OutcomeCancelled, "reading_body")
	rep := d.waitReport("/upload")
	if rep.Phase.String() != "reading_body" || rep.BytesIn <= 0 || rep.BytesIn >= fiveMB {
		t.Fatalf("report: phase %v, %d bytes in", rep.Phase, rep.BytesIn)
	}
	t.Logf("left after %d bytes of %d; reading stopped %v after the disconnect", rep.BytesIn, fiveMB, rep.StoppedAfter)
	if got := d.metric(`hangup_client_gone_total{phase="reading_body"}`); got != 1 {
		t.Errorf("hangup_client_gone_total{reading_body} = %v", got)
	}
}

// TestUploadAbortedDuringCheck: a client that leaves while the server checks
// its credentials, body unread, is seen in phase handler, and the check (a
// SQLite query) is interrupted: net/http alone would not notice this one.
//
// The client sends only the start of its body, which the server's receive
// window takes whole: a client that closes with more unsent data than the
// window takes cannot be seen before the server reads, because its FIN
// queues behind that data (TCP delivers it in order).
func TestUploadAbortedDuringCheck(t *testing.T) {
	t.Parallel()
	d := startDemo(t, demo.Config{UploadCheck: time.Minute})
	c := d.send(uploadHead(fiveMB, true))
	wrote := pour(c, 32<<10)
	id := d.waitStart(c.LocalAddr())
	d.waitKind(id, "progress")
	c.Close()
	<-wrote
	end := d.waitKind(id, "end")
	expectGoneEnd(t, end, demo.OutcomeCancelled, "handler")
	if !strings.Contains(end.Err, "interrupted") || end.BytesIn != 0 {
		t.Fatalf("err %q, %d bytes read; want an interrupted check and no body read", end.Err, end.BytesIn)
	}
}

// TestUploadStoredAndTooLarge: an authorized upload is read and stored;
// one over the limit is answered 413, whether its length is announced or
// found while reading.
func TestUploadStoredAndTooLarge(t *testing.T) {
	t.Parallel()
	d := startDemo(t, demo.Config{UploadCheck: 10 * time.Millisecond, MaxUpload: 256 << 10})
	post := func(body io.Reader, size int64) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, d.url+"/upload", body)
		req.ContentLength = size
		req.Header.Set("Authorization", "Bearer test")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, msg := post(bytes.NewReader(make([]byte, 100_000)), 100_000); code != 200 || !strings.Contains(msg, "stored 100000 bytes") {
		t.Errorf("upload: %d %q", code, msg)
	}
	if code, msg := post(bytes.NewReader(make([]byte, 300<<10)), 300<<10); code != 413 {
		t.Errorf("announced too large: %d %q", code, msg)
	}
	// Unknown length (chunked): found by http.MaxBytesReader.
	if code, msg := post(io.MultiReader(bytes.NewReader(make([]byte, 300<<10))), -1); code != 413 {
		t.Errorf("chunked too large: %d %q", code, msg)
	}
}
