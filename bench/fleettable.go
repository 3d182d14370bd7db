//go:build ignore

// fleettable is bench/fleet.sh's helper: time stamps on log lines, one
// /metrics for the fleet's replicas, the fleet's capacity, the JSON of one
// cell from what its processes logged, and the markdown of bench/FLEET.md.
// Free ports, readiness and the load model are stormtable's
// (bench/stormtable.go), which the script also builds.
//
//	go build -o fleettable bench/fleettable.go
//	fleettable stamp                      stdin to stdout, each line after the Unix time in ms and a space
//	fleettable metrics ADDR URL...        serve ADDR's /metrics: every replica's work and in-flight requests (see serveMetrics)
//	fleettable idle URL TIMEOUT           until URL's demo_work_in_flight sum to 0, or TIMEOUT (then a warning)
//	fleettable capacity OUT A.json B.json the fleet's capacity from one patient run per replica, as one storm result
//	fleettable cell FLAGS                 one cell's JSON on -out (see cell)
//	fleettable summary CELL.json          one line about a cell, for the terminal
//	fleettable table DIR                  bench/FLEET.md on stdout, from DIR/meta.json, DIR/capacity.json and the cells
//
// It is not part of the module's packages (build tag ignore): CI does not
// build it, bench/fleet.sh does.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fail("usage: fleettable stamp|metrics|capacity|cell|summary|table ...")
	}
	args := os.Args[2:]
	switch os.Args[1] {
	case "stamp":
		stamp(os.Stdin, os.Stdout)
	case "metrics":
		if len(args) < 2 {
			fail("usage: fleettable metrics ADDR URL...")
		}
		serveMetrics(args[0], args[1:])
	case "idle":
		need(args, 2)
		d, err := time.ParseDuration(args[1])
		check(err)
		idle(args[0], d)
	case "capacity":
		need(args, 3)
		capacity(args[0], args[1], args[2])
	case "cell":
		cell(args)
	case "summary":
		need(args, 1)
		fmt.Println(readCell(args[0]).summary())
	case "table":
		need(args, 1)
		table(args[0])
	default:
		fail("unknown command " + os.Args[1])
	}
}

func nowMS() int64 { return time.Now().UnixMilli() }

// stamp copies r to w a line at a time, each after the time it was read
// (Unix milliseconds). The proxies' logs are stamped with it, so that one
// clock orders the kill, the restart and what every proxy said about them
// (HAProxy's messages on stderr have no time, nginx's only seconds). A
// line is written as soon as it is read.
func stamp(r io.Reader, w io.Writer) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		fmt.Fprintf(w, "%d %s\n", nowMS(), sc.Bytes())
	}
}

// stamped is one line that stamp wrote.
type stamped struct {
	ms   int64
	text string
}

// readStamped reads path's lines from byte offset on.
func readStamped(path string, offset int64) []stamped {
	f, err := os.Open(path)
	check(err)
	defer f.Close()
	_, err = f.Seek(offset, io.SeekStart)
	check(err)
	var out []stamped
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		ms, text, ok := strings.Cut(sc.Text(), " ")
		n, err := strconv.ParseInt(ms, 10, 64)
		if !ok || err != nil {
			continue // a partial last line
		}
		out = append(out, stamped{n, text})
	}
	return out
}

// --- metrics -------------------------------------------------------------

// replica is what the last scrapes of one replica said: its counters
// (demo_work_seconds_total, by series) and what they had counted before it
// last restarted.
type replica struct {
	url    string
	last   map[string]float64 // series → value at the last scrape
	before map[string]float64 // series → sum of the values before each restart
}

// serveMetrics serves addr's /metrics for hangup storm --metrics: each
// replica's demo_work_seconds_total series, with a replica label, and its
// gauges, scraped from urls at each request. A replica
// that does not answer (killed) keeps its counters and is 0 in flight. A
// counter that went down is a replica that restarted: what it had counted
// before is kept and added, as Prometheus's rate() does, so the fleet's
// work only grows. The work that a killed replica finished after the last
// scrape before its death is not counted: bench/fleet.sh scrapes once just
// before the kill.
func serveMetrics(addr string, urls []string) {
	var mu sync.Mutex
	reps := make([]*replica, len(urls))
	for i, u := range urls {
		reps[i] = &replica{url: u, last: map[string]float64{}, before: map[string]float64{}}
	}
	client := &http.Client{Timeout: time.Second}
	http.HandleFunc("/metrics", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		var b strings.Builder
		for i, rep := range reps {
			g := scrape(client, rep)
			label := fmt.Sprintf(`replica="%d"`, i)
			keys := make([]string, 0, len(rep.last))
			for k := range rep.last {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				fmt.Fprintf(&b, "%s %g\n", withLabel(k, label), rep.last[k]+rep.before[k])
			}
			for _, name := range gauges {
				fmt.Fprintf(&b, "%s{%s} %g\n", name, label, g[name])
			}
		}
		io.WriteString(w, b.String())
	})
	check(http.ListenAndServe(addr, nil))
}

// The gauges serveMetrics passes on, per replica: requests in the handler
// (/metrics itself included) and pieces of work running.
var gauges = []string{"hangup_requests_in_flight", "demo_work_in_flight"}

// scrape updates rep from one scrape and returns its gauges, 0 if it did
// not answer.
func scrape(client *http.Client, rep *replica) map[string]float64 {
	g := map[string]float64{}
	resp, err := client.Get(rep.url)
	if err != nil {
		return g
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
	for sc.Scan() {
		line := sc.Text()
		i := strings.LastIndexByte(line, ' ')
		if i < 0 || line[0] == '#' {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		name := line[:i]
		if j := strings.IndexByte(name, '{'); j >= 0 {
			name = name[:j]
		}
		switch {
		case name == "demo_work_seconds_total":
			series := line[:i]
			if v < rep.last[series] {
				rep.before[series] += rep.last[series]
			}
			rep.last[series] = v
		case slices.Contains(gauges, name):
			g[name] += v
		}
	}
	return g
}

// idle waits until the replicas behind url have no work running: the
// warmup's users all left at once when it ended, and the work they left is
// not the measured run's (see FLEET.md).
func idle(url string, d time.Duration) {
	client := &http.Client{Timeout: time.Second}
	rep := &replica{url: url, last: map[string]float64{}, before: map[string]float64{}}
	deadline := time.Now().Add(d)
	for {
		n := scrape(client, rep)["demo_work_in_flight"]
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			fmt.Fprintf(os.Stderr, "fleettable: %v pieces of work still running at %s after %v\n", n, url, d)
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// withLabel adds label to a series name{...} or name.
func withLabel(series, label string) string {
	if i := strings.IndexByte(series, '{'); i >= 0 {
		return series[:i+1] + label + "," + series[i+1:]
	}
	return series + "{" + label + "}"
}

// --- storm results ---------------------------------------------------------

// doc is a decoded JSON object; num and str read a path through it, zero
// when it is not there.
type doc map[string]any

func (d doc) get(path ...string) any {
	var v any = map[string]any(d)
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}

func (d doc) num(path ...string) float64 {
	f, _ := d.get(path...).(float64)
	return f
}

func readDoc(path string) doc {
	b, err := os.ReadFile(path)
	check(err)
	var d doc
	if err := json.Unmarshal(b, &d); err != nil {
		fail(path + ": " + err.Error())
	}
	return d
}

func writeJSON(path string, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	check(err)
	check(os.WriteFile(path, append(b, '\n'), 0o644))
}

// capacity writes to out the fleet's capacity run as one hangup storm
// result, from the patient runs a and b, one at each replica directly at
// the same time (no proxy in between, so that no proxy's balancing is in
// the fleet's capacity): responses per second summed, mean latency
// weighted by responses. stormtable capacity and users read it.
func capacity(out, a, b string) {
	ra, rb := readDoc(a), readDoc(b)
	n := ra.num("totals", "latency_ms", "count") + rb.num("totals", "latency_ms", "count")
	if n == 0 {
		fail("the capacity runs got no response: see " + a + " and " + b)
	}
	mean := (ra.num("totals", "latency_ms", "mean")*ra.num("totals", "latency_ms", "count") +
		rb.num("totals", "latency_ms", "mean")*rb.num("totals", "latency_ms", "count")) / n
	writeJSON(out, map[string]any{
		"config": map[string]any{"users": ra.num("config", "users") + rb.num("config", "users")},
		"totals": map[string]any{
			"goodput":       ra.num("totals", "goodput") + rb.num("totals", "goodput"),
			"goodput_per_s": ra.num("totals", "goodput_per_s") + rb.num("totals", "goodput_per_s"),
			"latency_ms":    map[string]any{"count": n, "mean": mean},
		},
		"replicas": []doc{ra, rb},
	})
}

// --- one cell ----------------------------------------------------------------

// Cell is one cell's JSON: the storm's result, the capacity it is
// measured against, and what the front proxy's log said.
type Cell struct {
	Proxy    string  `json:"proxy"`
	Load     float64 `json:"load"`
	Users    int     `json:"users"`
	Capacity float64 `json:"capacity_per_s"`
	LoadAvg  struct {
		Start string `json:"start"`
		End   string `json:"end"`
	} `json:"loadavg"`
	// Statuses counts the front's access log lines of the measured run by
	// the status sent to the client (499: it had left).
	Statuses map[string]int `json:"statuses"`
	Kill     *Kill          `json:"kill,omitempty"`
	Storm    doc            `json:"storm"`
}

// Kill is what a kill cell measured around the replica killed halfway.
type Kill struct {
	Replica  string  `json:"replica"`
	AtS      float64 `json:"at_s"`         // into the measured run
	RestartS float64 `json:"restart_at_s"` // into the measured run
	ReadyMS  int64   `json:"ready_after_ms"`
	Received int     `json:"received"` // /slow requests the replica received before it was killed
	Lost     int     `json:"lost"`     // of which never answered: in flight when it died
	Bad502   int     `json:"502"`      // 502s the front answered
	At502    int     `json:"502_killed"`
	// Failed counts the 5xx answers whose last attempt could not connect
	// to a replica (parseFront): requests that no replica had, unless an
	// earlier attempt had reached one.
	Failed    int            `json:"5xx_failed_connect"`
	Reasons   map[string]int `json:"5xx_reasons"`     // "status reason" of the 502s and Failed, addresses elided
	EjectMS   *int64         `json:"eject_after_ms"`  // the front's log line saying it took the replica out, after the kill
	ReturnMS  *int64         `json:"return_after_ms"` // its line saying it took it back, after the restart
	FirstMS   *int64         `json:"first_request_after_ms"`
	EjectLine string         `json:"eject_line,omitempty"`
}

// cell writes one cell's JSON from the storm's result and the logs.
func cell(args []string) {
	fs := flag.NewFlagSet("cell", flag.ExitOnError)
	out := fs.String("out", "", "cell JSON to write")
	stormPath := fs.String("storm", "", "hangup storm --json result")
	capPath := fs.String("capacity", "", "the fleet's capacity.json")
	proxy := fs.String("proxy", "", "front: hangup, hangup-retry, nginx or haproxy")
	load := fs.Float64("load", 0, "load, in multiples of the capacity")
	users := fs.Int("users", 0, "users of the storm")
	frontLog := fs.String("front-log", "", "the front's stamped log")
	offset := fs.Int64("front-offset", 0, "where the measured run starts in -front-log")
	la0 := fs.String("loadavg-start", "", "/proc/loadavg before the cell")
	la1 := fs.String("loadavg-end", "", "/proc/loadavg after it")
	killed := fs.String("killed", "", "the killed replica's host:port (a kill cell)")
	killedLog := fs.String("killed-log", "", "its stamped log until the kill")
	restartedLog := fs.String("restarted-log", "", "its stamped log after the restart")
	startMS := fs.Int64("start-ms", 0, "when the measured run started (Unix ms)")
	killMS := fs.Int64("kill-ms", 0, "when the replica was killed")
	restartMS := fs.Int64("restart-ms", 0, "when it was started again")
	readyMS := fs.Int64("ready-ms", 0, "when it answered again")
	check(fs.Parse(args))

	c := Cell{Proxy: *proxy, Load: *load, Users: *users, Statuses: map[string]int{}}
	c.Capacity = readDoc(*capPath).num("totals", "goodput_per_s")
	c.LoadAvg.Start, c.LoadAvg.End = *la0, *la1
	c.Storm = readDoc(*stormPath)
	lines := readStamped(*frontLog, *offset)
	var k *Kill
	if *killed != "" {
		k = &Kill{Replica: *killed, Reasons: map[string]int{},
			AtS:      float64(*killMS-*startMS) / 1000,
			RestartS: float64(*restartMS-*startMS) / 1000,
			ReadyMS:  *readyMS - *restartMS}
		k.Received, k.Lost = replicaLost(*killedLog)
		for _, l := range readStamped(*restartedLog, 0) {
			if received(l.text) {
				k.FirstMS = ptr(l.ms - *restartMS)
				break
			}
		}
		c.Kill = k
	}
	for _, l := range lines {
		ev := parseFront(*proxy, l.text)
		if ev.status != 0 {
			c.Statuses[strconv.Itoa(ev.status)]++
		}
		if k == nil {
			continue
		}
		hit := strings.Contains(ev.upstream, *killed)
		switch {
		case ev.status == http.StatusBadGateway || (ev.status >= 500 && ev.failedConnect):
			if ev.status == http.StatusBadGateway {
				k.Bad502++
				if hit {
					k.At502++
				}
			}
			if ev.failedConnect {
				k.Failed++
			}
			reason := ev.reason
			if reason == "" {
				reason = "(none logged)"
			}
			k.Reasons[fmt.Sprintf("%d %s", ev.status, addrs.ReplaceAllString(reason, "…"))]++
		case ev.eject && hit && l.ms >= *killMS && k.EjectMS == nil:
			k.EjectMS, k.EjectLine = ptr(l.ms-*killMS), l.text
		case ev.back && hit && l.ms >= *restartMS && k.ReturnMS == nil:
			k.ReturnMS = ptr(l.ms - *restartMS)
		}
	}
	writeJSON(*out, c)
}

func ptr[T any](v T) *T { return &v }

// received reports whether a demo's log line says a /slow request came in.
func received(line string) bool {
	return strings.Contains(line, "msg=received") &&
		(strings.Contains(line, `url=/slow`) || strings.Contains(line, `url="/slow`))
}

// replicaLost counts the /slow requests a replica's log says it received,
// and of those, the ones it never answered: every answered one has an
// access line (hangup demo --access-log), whatever its status.
func replicaLost(path string) (received_, lost int) {
	answered := 0
	for _, l := range readStamped(path, 0) {
		switch {
		case received(l.text):
			received_++
		case strings.Contains(l.text, "msg=request") && strings.Contains(l.text, "path=/slow"):
			answered++
		}
	}
	return received_, received_ - answered
}

// frontEvent is what one line of a front proxy's log says.
type frontEvent struct {
	status        int    // an access line's status to the client
	upstream      string // the upstream(s) it went to, or the one ejected or back
	reason        string // why a 502
	failedConnect bool   // an answer after an attempt that could not connect
	eject, back   bool   // the proxy took an upstream out, or back in
}

// parseFront reads one line of each front's log (formats set by
// bench/fleet.sh): hangup proxy's JSON lines; nginx's access lines
// `ACC status "upstream_addr" "upstream_status"` and its error lines;
// HAProxy's access lines `ACC status server termination_state retries`
// and its server state messages.
func parseFront(proxy, line string) frontEvent {
	var ev frontEvent
	switch proxy {
	case "hangup", "hangup-retry":
		var d doc
		if json.Unmarshal([]byte(line), &d) != nil {
			return ev
		}
		ev.upstream, _ = d.get("upstream").(string)
		switch d.get("msg") {
		case "request":
			ev.status = int(d.num("status"))
			ev.reason, _ = d.get("error").(string)
			// A dial that failed: that attempt never reached the upstream.
			// The request may have reached it before, on a connection that
			// died: net/http's Transport sends an idempotent request again
			// on a new connection then, and that dial is what fails.
			ev.failedConnect = strings.HasPrefix(ev.reason, "dial ")
		case "upstream ejected":
			ev.eject = true
		case "upstream returned":
			ev.back = true
		}
	case "nginx":
		if rest, ok := strings.CutPrefix(line, "ACC "); ok {
			f := strings.SplitN(rest, " ", 2)
			ev.status, _ = strconv.Atoi(f[0])
			if len(f) == 2 {
				addr, st, _ := strings.Cut(f[1], `" "`)
				ev.upstream = strings.Trim(addr, `"`)
				ev.reason = "upstream status " + strings.Trim(st, `"`)
			}
			return ev
		}
		ev.eject = strings.Contains(line, "upstream server temporarily disabled")
		if i := strings.Index(line, `upstream: "`); i >= 0 {
			ev.upstream = line[i:]
		}
	case "haproxy":
		if rest, ok := strings.CutPrefix(line, "ACC "); ok {
			f := strings.Fields(rest)
			if len(f) >= 4 {
				ev.status, _ = strconv.Atoi(f[0])
				ev.upstream = f[1]
				ev.reason = "termination " + f[2] + ", retries " + f[3]
				// SC: the connect to the server failed (after the
				// retries); <NOSRV>: no server to send it to.
				ev.failedConnect = strings.HasPrefix(f[2], "SC") || f[1] == "<NOSRV>"
			}
			return ev
		}
		ev.eject = strings.Contains(line, " is DOWN")
		ev.back = strings.Contains(line, " is UP")
		if i := strings.Index(line, "Server demo/"); i >= 0 {
			ev.upstream = line[i:]
		}
	}
	return ev
}

// --- reading cells -----------------------------------------------------------

func readCell(path string) *Cell {
	b, err := os.ReadFile(path)
	check(err)
	var c Cell
	if err := json.Unmarshal(b, &c); err != nil {
		fail(path + ": " + err.Error())
	}
	return &c
}

func (c *Cell) goodput() float64 { return c.Storm.num("totals", "goodput_per_s") }

func (c *Cell) share() float64 {
	if c.Capacity == 0 {
		return 0
	}
	return c.goodput() / c.Capacity
}

// wasted is the wasted share of the replicas' busy time, and whether the
// storm scraped any work.
func (c *Cell) wasted() (float64, bool) {
	w, ok := c.Storm.get("totals", "work").(map[string]any)
	if !ok {
		return 0, false
	}
	d := doc(w)
	busy := d.num("useful_s") + d.num("cancelled_s") + d.num("wasted_s")
	if busy == 0 {
		return 0, true
	}
	return d.num("wasted_s") / busy, true
}

func (c *Cell) count(code string) int { return c.Statuses[code] }

// fivexx counts the 5xx answers the storm's users got, and the front's log
// lines of each 5xx status (which include those whose user had left).
func (c *Cell) fivexx() int { return int(c.Storm.num("totals", "errors_by_kind", "status_5xx")) }

func (c *Cell) summary() string {
	w, _ := c.wasted()
	s := fmt.Sprintf("goodput %.2f/s (%.0f%% of C), wasted %.1f%%, 5xx %d (502: %d, 503: %d), p50 %.0f ms, p99 %.0f ms",
		c.goodput(), 100*c.share(), 100*w, c.fivexx(), c.count("502"), c.count("503"),
		c.Storm.num("totals", "latency_ms", "p50"), c.Storm.num("totals", "latency_ms", "p99"))
	if k := c.Kill; k != nil {
		s += fmt.Sprintf("; killed: lost %d of %d received, 502s %d (%d at it, %d 5xx on a failed connect), eject %s, back %s, first request %s",
			k.Lost, k.Received, k.Bad502, k.At502, k.Failed, ms(k.EjectMS), ms(k.ReturnMS), ms(k.FirstMS))
	}
	return s
}

func ms(p *int64) string {
	if p == nil {
		return "—"
	}
	return fmt.Sprintf("%d ms", *p)
}

// --- the table -------------------------------------------------------------

// proxyNames are the rows' names, in the order of the table.
// addrs are the host:port pairs in a front's error, which differ in each.
var addrs = regexp.MustCompile(`\d+\.\d+\.\d+\.\d+:\d+`)

var proxyNames = []struct{ id, name string }{
	{"hangup", "hangup proxy"},
	{"hangup-retry", "hangup proxy --retry-idempotent"},
	{"nginx", "nginx"},
	{"haproxy", "HAProxy"},
}

func table(dir string) {
	meta := readDoc(filepath.Join(dir, "meta.json"))
	capDoc := readDoc(filepath.Join(dir, "capacity.json"))
	str := func(path ...string) string { s, _ := meta.get(path...).(string); return s }
	storms := map[string]*Cell{} // "5/hangup"
	kills := map[string]*Cell{}
	var loads []float64
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	for _, f := range files {
		base := filepath.Base(f)
		switch {
		case strings.HasPrefix(base, "storm-"):
			c := readCell(f)
			key := fmt.Sprintf("%g/%s", c.Load, c.Proxy)
			if _, seen := storms[key]; !seen && !hasLoad(loads, c.Load) {
				loads = append(loads, c.Load)
			}
			storms[key] = c
		case strings.HasPrefix(base, "kill-"):
			c := readCell(f)
			kills[c.Proxy] = c
		}
	}
	sort.Float64s(loads)
	C := capDoc.num("totals", "goodput_per_s")
	S := capDoc.num("totals", "latency_ms", "mean") / 1000

	p := func(format string, a ...any) { fmt.Printf(format, a...) }
	p("# Two replicas, one database: hangup proxy, nginx and HAProxy in front of a fleet\n\n")
	p("Measured by `%s` on %s. Written by `bench/fleettable.go table` from `bench/results/fleet/`; do not edit by hand.\n\n", str("command"), str("date"))
	p("Machine: %s, shared with other work: load average %s at the start and %s at the end (1, 5, 15 min). The load generator, both replicas, the proxy and PostgreSQL share its cores, so **ratios between proxies are the result**; absolute rates are this machine's at that moment.\n\n", str("machine"), str("loadavg_start"), str("loadavg_end"))
	p("Versions: %s.\n\n", str("versions"))

	p("## Setup\n\n")
	p("- **The fleet**: one PostgreSQL; two `hangup demo` replicas, each `--max-inflight 4 --db-pool 4 --queue-timeout %s` serving `GET /slow?seconds=1&work=postgres` (`SELECT pg_sleep(1)` on one of its 4 connections): each replica has its own Admission line, which answers 503 to a request that waited longer than the least patience minus the service time.\n", str("queue_timeout"))
	p("- **Capacity** C = **%.2f responses/s** (service time S = %.3f s), measured once: one patient closed-loop run (4 users, no think time, patience 60 s) at each replica directly, both at once, summed; no proxy in between.\n", C, S)
	p("- **Users**: `hangup storm`'s impatient users, as in bench/STORM.md: patience `%s`, think `%s`, reload with probability %s; load k× is `round(k × C × (S + think))` users. Each cell starts fresh replicas and proxy, runs %s of warmup, waits until the replicas have nothing in flight, then measures for %s. (The warmup's users all leave at once when it ends; on this machine a PostgreSQL cancel takes some 200 ms, so their work ended wasted, and in a 6 s quick cell it made 18%% of the busy time. Work is counted when it ends, so the measured run's own last requests are not counted either: both edges are left out.)\n", str("patience"), str("think"), str("reload"), str("warmup"), str("duration"))
	p("- **Work** is counted at the replicas: `demo_work_seconds_total{outcome}` of both, through one /metrics that sums them (`fleettable metrics`, which keeps a restarted replica's earlier counts); **wasted** = work run to its end for a user who had left, as a share of the replicas' busy time.\n")
	p("- **The fronts**:\n")
	p("  - hangup proxy: `%s`;\n", str("fronts", "hangup"))
	p("  - nginx: `%s` (no queue in the free version: the replicas' own lines hold the excess);\n", str("fronts", "nginx"))
	p("  - HAProxy: `%s`.\n\n", str("fronts", "haproxy"))

	p("## Storm\n\n")
	p("Goodput: responses delivered in full to a user still waiting, per second and as a share of C. 5xx: answers with a 5xx status that reached a waiting user (503: a queue timeout, the proxy's or a replica's), with the front's access log's counts of 502 and 503 (all clients, including those who had left). p50/p99: latency of goodput.\n\n")
	p("| load | users | front | goodput/s | %% of C | wasted %% | 5xx to users | 502 | 503 | p50 ms | p99 ms |\n")
	p("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, k := range loads {
		for _, pn := range proxyNames {
			c := storms[fmt.Sprintf("%g/%s", k, pn.id)]
			if c == nil {
				continue
			}
			w, _ := c.wasted()
			p("| %g× | %d | %s | %.2f | %.0f%% | %.1f%% | %d | %d | %d | %.0f | %.0f |\n", k, c.Users, pn.name,
				c.goodput(), 100*c.share(), 100*w, c.fivexx(), c.count("502"), c.count("503"),
				c.Storm.num("totals", "latency_ms", "p50"), c.Storm.num("totals", "latency_ms", "p99"))
		}
	}
	p("\n")
	for _, k := range loads {
		h := storms[fmt.Sprintf("%g/hangup", k)]
		if h == nil || h.goodput() == 0 {
			continue
		}
		var rs []string
		for _, o := range []string{"nginx", "haproxy"} {
			if c := storms[fmt.Sprintf("%g/%s", k, o)]; c != nil && c.goodput() > 0 {
				rs = append(rs, fmt.Sprintf("%.2f× %s's", h.goodput()/c.goodput(), nameOf(o)))
			}
		}
		if len(rs) > 0 {
			p("- At %g×, hangup proxy's goodput is %s.\n", k, strings.Join(rs, " and "))
		}
	}
	top := 0.0
	if len(loads) > 0 {
		top = loads[len(loads)-1]
	}
	if h := storms[fmt.Sprintf("%g/hangup", top)]; h != nil && top == 5 {
		w, _ := h.wasted()
		p("- **Floors for hangup proxy at 5×** (goodput ≥ 90%% of C, wasted ≤ 5%%): goodput %.0f%%, **%s**; wasted %.1f%%, **%s**.\n",
			100*h.share(), verdict(h.share() >= 0.9), 100*w, verdict(w <= 0.05))
	}
	p("\n")

	if len(kills) > 0 {
		p("## A replica killed mid-storm\n\n")
		var first *Cell
		for _, pn := range proxyNames {
			if kills[pn.id] != nil {
				first = kills[pn.id]
				break
			}
		}
		p("The same storm at %g× (%d users) for %s; at %.1f s one replica gets `kill -9`, and %.1f s later it is started again on the same port. Counted per run: **lost** = /slow requests the killed replica had received and never answered (from its own log: received minus access lines), the requests in flight when it died; **502** = the front's access log's 502s, and those naming the killed replica; **5xx on a failed connect** = its 5xx answers whose last attempt could not connect to a replica (hangup proxy: a failed dial; HAProxy: termination state SC, or no server; nginx's access line does not tell them apart): requests that no replica had, unless an earlier attempt had reached one (net/http's Transport sends an idempotent request again on a new connection when its connection dies before any answer byte); **eject** = from the kill to the front's log line taking the replica out (hangup: `upstream ejected`; nginx: `upstream server temporarily disabled`; HAProxy: `is DOWN`); **back** = from the restart to its line taking it back (nginx has none); **first request** = from the restart to the first /slow request the restarted replica logged (every front); ready = from the restart to its first answer to the script.\n\n",
			first.Load, first.Users, str("kill_duration"), first.Kill.AtS, first.Kill.RestartS-first.Kill.AtS)
		p("| front | goodput %% of C | 5xx to users | resets to users | lost at the killed | 502 | 502 naming it | 5xx on a failed connect | 503 | eject | back | first request | ready |\n")
		p("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, pn := range proxyNames {
			c := kills[pn.id]
			if c == nil {
				continue
			}
			k := c.Kill
			p("| %s | %.0f%% | %d | %d | %d of %d | %d | %d | %d | %d | %s | %s | %s | %d ms |\n", pn.name, 100*c.share(), c.fivexx(),
				int(c.Storm.num("totals", "errors_by_kind", "reset")), k.Lost, k.Received, k.Bad502, k.At502, k.Failed, c.count("503"),
				ms(k.EjectMS), ms(k.ReturnMS), ms(k.FirstMS), k.ReadyMS)
		}
		p("\nWhy each 502 and each 5xx on a failed connect (status and the front's own words, addresses elided):\n\n")
		for _, pn := range proxyNames {
			c := kills[pn.id]
			if c == nil || len(c.Kill.Reasons) == 0 {
				continue
			}
			var rs []string
			for r, n := range c.Kill.Reasons {
				rs = append(rs, fmt.Sprintf("%d × `%s`", n, r))
			}
			sort.Strings(rs)
			p("- %s: %s\n", pn.name, strings.Join(rs, "; "))
		}
		p("\n")
		for _, id := range []string{"hangup", "hangup-retry", "haproxy"} {
			if c := kills[id]; c != nil {
				p("- **%s: no error for a request the killed replica never received**: %d 5xx on a failed connect, **%s**.\n",
					nameOf(id), c.Kill.Failed, verdict(c.Kill.Failed == 0))
			}
		}
		p("\n%s\n\n", killNotes)
	}
	p("Plots (`hangup storm --plot`: goodput, work in flight at the replicas, p99, per second): %s.\n", strings.Join(plots(dir), ", "))
}

// killNotes is what the kill table's columns depend on: each front's
// settings for ejection and return, and what changed in hangup proxy.
const killNotes = `Reading the kill table:

- **Lost** requests were in flight at the killed replica (each replica works on at most 4 and holds the rest in its own line; behind nginx, which has no line of its own, a replica holds more). The replica had them, so a front sends them to the other replica only if it may repeat a request: nginx does for a GET (` + "`proxy_next_upstream error`" + `); hangup proxy does with ` + "`--retry-idempotent`" + `, once, within its 20% budget, and not past the other upstream's ` + "`--max-inflight`" + ` (a retry is extra load: it goes only where there is room); HAProxy does not (` + "`retries`" + ` are for failed connects). The others get a 502 that names the killed replica, or their user leaves first. A lost request's 502 is not one the brief forbids: the replica had received it. Sometimes net/http's Transport sends such a GET again on a new connection, whose dial to the dead replica then fails: that is how, before the change below, those requests also ended as 502s on a failed dial.
- **503s** are mostly queue timeouts: hangup proxy's ` + "`--queue-timeout`" + ` and the replicas' own (the least patience minus S), which turn away a request that would most likely not be served before its user leaves. HAProxy's queue waits up to 60 s (its users leave instead); its 503s are failed connects (termination SC: its connect and its retries failed), counted in their own column.
- **Eject**: hangup proxy takes an upstream out after 3 failed connects in a row (` + "`--max-fails 3`" + `), nginx after 1 (` + "`max_fails=1 fail_timeout=10s`" + `, its defaults), HAProxy when its health check fails (` + "`check`" + `: every 2 s, 3 failures in a row, its defaults). Until then HAProxy keeps sending requests to the dead replica (with ` + "`leastconn`" + ` it has the fewest connections), and a request whose connect and retries (` + "`retries 3`, `option redispatch`" + `) all fail gets a 503 (termination SC).
- **Back**: hangup proxy gives an ejected upstream one request after ` + "`--fail-timeout`" + ` (10 s), then twice as long after each failed one; nginx sends it requests again after ` + "`fail_timeout`" + ` (and logs nothing); HAProxy's health check takes it back after 2 successes. A replica restarted 10 s after the kill meets a probe due at the same moment: if the probe finds it not yet listening, the next one is 20 s later.
- **Before commit 83b3ee3**, hangup proxy answered 502 to a request whose connect to the just-killed replica failed while the other replica was at ` + "`--max-inflight`" + ` (the pool's line still handed out the dead replica's slots until its ejection): 6 such 502s in each of two ` + "`--quick`" + ` runs. Since then such a request goes to the other replica past its limit and waits in that replica's own line (` + "`TestRetryNeverReachedFull`" + `).`

func nameOf(id string) string {
	for _, pn := range proxyNames {
		if pn.id == id {
			return pn.name
		}
	}
	return id
}

func hasLoad(loads []float64, k float64) bool {
	for _, l := range loads {
		if l == k {
			return true
		}
	}
	return false
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "missed"
}

func plots(dir string) []string {
	files, _ := filepath.Glob(filepath.Join(dir, "*.svg"))
	var out []string
	for _, f := range files {
		b := filepath.Base(f)
		out = append(out, fmt.Sprintf("[%s](results/fleet/%s)", strings.TrimSuffix(b, ".svg"), b))
	}
	if len(out) == 0 {
		return []string{"none"}
	}
	return out
}
