// Command bench is the Go side of proxybench.sh, which compares hangup
// proxy with nginx and HAProxy on this machine:
//
//	bench hello -listen ADDR
//	    a hello upstream: every request gets the same ~100-byte answer.
//	bench probe -upstream ADDR -trials N -timeout D NAME=ADDR...
//	    the time from a client's close to the upstream's abort: it serves
//	    an upstream on -upstream that holds each request until its context
//	    ends, and for each target (a proxy in front of that upstream, or the
//	    upstream itself) runs N trials: send a GET, wait until the upstream
//	    handler has it, close the connection (FIN), and time how long the
//	    upstream takes to see its request's context end. Plain net/http
//	    upstream: for a GET it sees the proxy's connection close.
//	bench load -url URL -c N -d D
//	    a keep-alive load generator, for when wrk is not installed.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: bench hello|probe|load [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "hello":
		err = hello(os.Args[2:])
	case "probe":
		err = probe(os.Args[2:])
	case "load":
		err = load(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// helloBody is the small answer: 100 bytes.
var helloBody = []byte("Hello from the upstream. This is a small answer of exactly one hundred bytes, for the benchmark....\n")

func hello(args []string) error {
	fs := flag.NewFlagSet("hello", flag.ExitOnError)
	listen := fs.String("listen", "127.0.0.1:9000", "address to serve on")
	fs.Parse(args)
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h["Content-Type"] = []string{"text/plain"}
		h["Content-Length"] = []string{strconv.Itoa(len(helloBody))}
		w.Write(helloBody)
	}), ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// trial is one probe: the upstream's side of it.
type trial struct {
	once    atomic.Bool   // the handler has taken it
	entered chan struct{} // the handler has the request
	ended   chan struct{} // its context ended; at is set
	at      time.Time
}

func probe(args []string) error {
	fs := flag.NewFlagSet("probe", flag.ExitOnError)
	upstream := fs.String("upstream", "127.0.0.1:9001", "address to serve the probing upstream on")
	trials := fs.Int("trials", 200, "trials per target")
	timeout := fs.Duration("timeout", time.Second, "give up on a trial when the upstream has not seen the abort this long after the close")
	hold := fs.Duration("hold", 1500*time.Millisecond, "the upstream answers a request whose context never ends after this long")
	fs.Parse(args)
	if fs.NArg() == 0 {
		return errors.New("probe: give targets as NAME=ADDR")
	}

	var (
		mu   sync.Mutex
		byID = map[string]*trial{}
	)
	get := func(id string) *trial {
		mu.Lock()
		defer mu.Unlock()
		tr := byID[id]
		if tr == nil {
			tr = &trial{entered: make(chan struct{}), ended: make(chan struct{})}
			byID[id] = tr
		}
		return tr
	}
	ln, err := net.Listen("tcp", *upstream)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tr := get(r.URL.Query().Get("id"))
		if !tr.once.CompareAndSwap(false, true) {
			http.Error(w, "trial seen twice", http.StatusConflict)
			return
		}
		close(tr.entered)
		select {
		case <-r.Context().Done():
			tr.at = time.Now()
			close(tr.ended)
		case <-time.After(*hold):
			io.WriteString(w, "held\n")
		}
	}), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()

	fmt.Printf("%-14s %8s %10s %10s %10s %10s\n", "target", "trials", "aborted", "p50", "p99", "max")
	for _, target := range fs.Args() {
		name, addr, ok := strings.Cut(target, "=")
		if !ok {
			return fmt.Errorf("probe: target %q: want NAME=ADDR", target)
		}
		if err := waitUp(addr); err != nil {
			return err
		}
		var lat []time.Duration
		errs := 0
		for i := range *trials {
			id := name + "-" + strconv.Itoa(i)
			d, err := probeOnce(addr, id, get(id), *timeout)
			switch {
			case err != nil:
				errs++
				fmt.Fprintf(os.Stderr, "%s trial %d: %v\n", name, i, err)
			case d >= 0:
				lat = append(lat, d)
			}
		}
		slices.Sort(lat)
		if len(lat) == 0 {
			fmt.Printf("%-14s %8d %10s %10s %10s %10s\n", name, *trials, fmt.Sprintf("0/%d", *trials), "never", "never", "never")
		} else {
			fmt.Printf("%-14s %8d %10s %10s %10s %10s\n", name, *trials, fmt.Sprintf("%d/%d", len(lat), *trials),
				us(pct(lat, 50)), us(pct(lat, 99)), us(lat[len(lat)-1]))
		}
		if errs > 0 {
			fmt.Printf("%-14s %d trials failed (see stderr)\n", name, errs)
		}
	}
	return nil
}

// probeOnce runs one trial. It returns -1 if the upstream did not see the
// abort within timeout.
func probeOnce(addr, id string, tr *trial, timeout time.Duration) (time.Duration, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return 0, err
	}
	if _, err := fmt.Fprintf(c, "GET /probe?id=%s HTTP/1.1\r\nHost: bench\r\n\r\n", url.QueryEscape(id)); err != nil {
		c.Close()
		return 0, err
	}
	select {
	case <-tr.entered:
	case <-time.After(5 * time.Second):
		c.Close()
		return 0, errors.New("the request never reached the upstream")
	}
	start := time.Now()
	c.Close() // FIN: the client is gone
	select {
	case <-tr.ended:
		return tr.at.Sub(start), nil
	case <-time.After(timeout):
		return -1, nil
	}
}

func waitUp(addr string) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s is not up: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func pct(sorted []time.Duration, p int) time.Duration {
	i := (len(sorted)*p+99)/100 - 1
	return sorted[max(i, 0)]
}

func us(d time.Duration) string {
	return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond))
}

// load is a keep-alive load generator: c connections, each sending the next
// request as soon as it has the previous answer, for d.
func load(args []string) error {
	fs := flag.NewFlagSet("load", flag.ExitOnError)
	target := fs.String("url", "http://127.0.0.1:8080/", "URL to load")
	conns := fs.Int("c", 32, "connections")
	dur := fs.Duration("d", 10*time.Second, "duration")
	fs.Parse(args)
	u, err := url.Parse(*target)
	if err != nil {
		return err
	}
	req := fmt.Sprintf("GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", u.RequestURI(), u.Host)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		lat   []time.Duration
		total atomic.Int64
		fails atomic.Int64
	)
	stop := time.Now().Add(*dur)
	for range *conns {
		wg.Go(func() {
			var mine []time.Duration
			defer func() { mu.Lock(); lat = append(lat, mine...); mu.Unlock() }()
			c, err := net.Dial("tcp", u.Host)
			if err != nil {
				fails.Add(1)
				return
			}
			defer c.Close()
			br := bufio.NewReader(c)
			for time.Now().Before(stop) {
				t0 := time.Now()
				if _, err := io.WriteString(c, req); err != nil {
					fails.Add(1)
					return
				}
				res, err := http.ReadResponse(br, nil)
				if err != nil {
					fails.Add(1)
					return
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode != 200 {
					fails.Add(1)
				}
				mine = append(mine, time.Since(t0))
				total.Add(1)
			}
		})
	}
	wg.Wait()
	slices.Sort(lat)
	if len(lat) == 0 {
		return errors.New("load: no request succeeded")
	}
	// The same lines as wrk's, so that proxybench.sh reads either.
	fmt.Printf("Requests/sec: %.2f\n", float64(total.Load())/dur.Seconds())
	fmt.Printf("     50%%  %.2fms\n", float64(pct(lat, 50))/1e6)
	fmt.Printf("     99%%  %.2fms\n", float64(pct(lat, 99))/1e6)
	fmt.Printf("Non-2xx or errors: %d\n", fails.Load())
	return nil
}
