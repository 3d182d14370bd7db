//go:build ignore

// stormtable is bench/storm.sh's helper: free ports, readiness checks, the
// load model and the markdown table of bench/STORM.md, from the JSON that
// "hangup storm --json" wrote for every cell of the matrix.
//
//	go build -o stormtable bench/stormtable.go bench/cli.go
//	stormtable ports N                    N free loopback TCP ports, one a line
//	stormtable wait URL TIMEOUT           until URL answers (any status), or exit 1
//	stormtable capacity CAP.json          "C S": responses/s and mean latency (s) of a patient run
//	stormtable users CAP.json K THINK     closed-loop users offering K× the capacity (see STORM.md)
//	stormtable summary CELL.json          one line about a cell, for the terminal
//	stormtable table RESULTS_DIR          bench/STORM.md on stdout, from RESULTS_DIR/meta.json and cells
//
// It is not part of the module's packages (build tag ignore): CI does not
// build it, bench/storm.sh does.
package main

import (
	"encoding/json"
	"fmt"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fail("usage: stormtable ports|wait|capacity|users|summary|table ...")
	}
	args := os.Args[2:]
	switch os.Args[1] {
	case "ports":
		need(args, 1)
		n, err := strconv.Atoi(args[0])
		check(err)
		ports(n)
	case "wait":
		need(args, 2)
		d, err := time.ParseDuration(args[1])
		check(err)
		wait(args[0], d)
	case "capacity":
		need(args, 1)
		c, s := capacity(args[0])
		fmt.Printf("%.3f %.3f\n", c, s)
	case "users":
		need(args, 3)
		k, err := strconv.ParseFloat(args[1], 64)
		check(err)
		think, err := time.ParseDuration(args[2])
		check(err)
		c, s := capacity(args[0])
		fmt.Println(users(c, s, k, think.Seconds()))
	case "summary":
		need(args, 1)
		r := readResult(args[0])
		fmt.Println(r.summary())
	case "table":
		need(args, 1)
		table(args[0])
	default:
		fail("unknown command " + os.Args[1])
	}
}

// ports prints n distinct free loopback ports: listened on together, then
// closed, so that they are distinct; the script uses them at once.
func ports(n int) {
	var lns []net.Listener
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		check(err)
		lns = append(lns, ln)
	}
	for _, ln := range lns {
		fmt.Println(ln.Addr().(*net.TCPAddr).Port)
		ln.Close()
	}
}

func wait(url string, d time.Duration) {
	deadline := time.Now().Add(d)
	c := &http.Client{Timeout: time.Second}
	for {
		resp, err := c.Get(url)
		if err == nil {
			resp.Body.Close()
			return
		}
		if time.Now().After(deadline) {
			fail(fmt.Sprintf("%s did not answer within %v: %v", url, d, err))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// result is the part of hangup storm's JSON that the table uses.
type result struct {
	Config struct {
		URL        string  `json:"url"`
		Users      int     `json:"users"`
		Patience   string  `json:"patience"`
		Think      string  `json:"think"`
		ReloadProb float64 `json:"reload_prob"`
		DurationS  float64 `json:"duration_s"`
	} `json:"config"`
	Totals struct {
		ElapsedS      float64        `json:"elapsed_s"`
		Sent          int            `json:"sent"`
		Goodput       int            `json:"goodput"`
		Abandoned     int            `json:"abandoned"`
		Errors        int            `json:"errors"`
		ErrorsByKind  map[string]int `json:"errors_by_kind"`
		GoodputPerS   float64        `json:"goodput_per_s"`
		AbandonedPerS float64        `json:"abandoned_per_s"`
		SentPerS      float64        `json:"sent_per_s"`
		Latency       struct {
			Count int     `json:"count"`
			P50   float64 `json:"p50"`
			P90   float64 `json:"p90"`
			P99   float64 `json:"p99"`
			Max   float64 `json:"max"`
			Mean  float64 `json:"mean"`
		} `json:"latency_ms"`
		Work *struct {
			Useful    float64 `json:"useful_s"`
			Cancelled float64 `json:"cancelled_s"`
			Wasted    float64 `json:"wasted_s"`
		} `json:"work"`
	} `json:"totals"`
	Warnings []string `json:"warnings"`
}

func readResult(path string) *result {
	b, err := os.ReadFile(path)
	check(err)
	var r result
	if err := json.Unmarshal(b, &r); err != nil {
		fail(path + ": " + err.Error())
	}
	return &r
}

// capacity is what a patient closed-loop run measured: responses per second
// and their mean latency in seconds (the service time, queueing included if
// any).
func capacity(path string) (c, s float64) {
	r := readResult(path)
	if r.Totals.GoodputPerS <= 0 || r.Totals.Latency.Count == 0 {
		fail(path + ": the capacity run got no response")
	}
	return r.Totals.GoodputPerS, r.Totals.Latency.Mean / 1000
}

// users is the number of closed-loop users that offer k times the capacity
// c: a user served in s seconds who thinks for think seconds asks for
// 1/(s+think) responses per second, so c·(s+think) users keep a backend of
// capacity c exactly busy.
func users(c, s, k, think float64) int {
	return max(1, int(math.Round(k*c*(s+think))))
}

// wastedShare is wasted work over the backend's busy time.
func (r *result) work() (useful, cancelled, wasted, share float64, ok bool) {
	w := r.Totals.Work
	if w == nil {
		return 0, 0, 0, 0, false
	}
	busy := w.Useful + w.Cancelled + w.Wasted
	if busy > 0 {
		share = w.Wasted / busy
	}
	return w.Useful, w.Cancelled, w.Wasted, share, true
}

func (r *result) abandonedShare() float64 {
	if r.Totals.Sent == 0 {
		return 0
	}
	return float64(r.Totals.Abandoned) / float64(r.Totals.Sent)
}

func (r *result) summary() string {
	t := &r.Totals
	s := fmt.Sprintf("goodput %.2f/s, abandoned %.0f%% of sent, errors %d, p50 %.0f ms, p99 %.0f ms",
		t.GoodputPerS, 100*r.abandonedShare(), t.Errors, t.Latency.P50, t.Latency.P99)
	if u, c, w, share, ok := r.work(); ok {
		s += fmt.Sprintf(", work useful %.1f s, cancelled %.1f s, wasted %.1f s (%.0f%%)", u, c, w, 100*share)
	}
	return s
}

// meta is what bench/storm.sh records about a run.
type meta struct {
	Date     string            `json:"date"`
	Command  string            `json:"command"`
	Machine  string            `json:"machine"`
	Versions map[string]string `json:"versions"`
	Params   struct {
		Patience   string            `json:"patience"`
		Think      string            `json:"think"`
		ReloadProb float64           `json:"reload_prob"`
		Warmup     string            `json:"warmup"`
		Duration   string            `json:"duration"`
		Loads      []int             `json:"loads"`
		Workers    map[string]int    `json:"workers"`
		Seconds    map[string]string `json:"seconds"`
		ProxyFlags string            `json:"proxy_flags"`
		SQLiteRate float64           `json:"sqlite_rows_per_s"`
		SQLiteTol  float64           `json:"sqlite_tolerance"`
	} `json:"params"`
	Works []string `json:"works"`
	// Later lists cells measured by another run and copied into the
	// results afterwards; the table says so where they appear.
	Later []struct {
		Scenario string   `json:"scenario"`
		Works    []string `json:"works"`
		Command  string   `json:"command"`
		Note     string   `json:"note"`
	} `json:"later"`
}

// scenarios, in the table's order, with what each row is.
var scenarios = []struct{ id, name, what string }{
	{"baseline", "(1) no hangup", "demo `--ignore-disconnect`: the work goes on for users who left"},
	{"hangup", "(2) hangup", "demo with hangup: work stops the moment its user leaves"},
	{"hangup-queue", "(2′) hangup + Admission", "demo with hangup and `--queue-timeout <least patience − S>`: its `hangup.Admission` line answers 503 to a request that waited too long, instead of starting work its user will not wait for"},
	{"proxy", "(3) hangup proxy, queue", "demo (hangup) behind `hangup proxy` with an admission queue"},
	{"proxy-coalesce", "(3′) hangup proxy, queue + coalesce", "as (3), identical GETs share one upstream request"},
	{"nginx", "(4) nginx", "demo (hangup) behind nginx, `proxy_ignore_client_abort off` (default)"},
	{"haproxy", "(5) HAProxy", "demo (hangup) behind HAProxy, `option abortonclose`, `maxconn` queue"},
}

func table(dir string) {
	var m meta
	b, err := os.ReadFile(filepath.Join(dir, "meta.json"))
	check(err)
	check(json.Unmarshal(b, &m))
	out := os.Stdout
	p := func(format string, a ...any) { fmt.Fprintf(out, format, a...) }

	p("# Impatient users against a backend of fixed capacity\n\n")
	p("Measured by `%s` on %s.\n\n", m.Command, m.Date)
	p("Machine: %s. The load generator, the backend, the proxy and PostgreSQL share its cores: ratios between rows are the result, absolute figures are this machine's.\n\n", m.Machine)
	if len(m.Versions) > 0 {
		var vs []string
		for _, k := range []string{"go", "nginx", "haproxy", "postgres"} {
			if v := m.Versions[k]; v != "" {
				vs = append(vs, k+" "+strings.TrimPrefix(v, "go"))
			}
		}
		p("Versions: %s.\n\n", strings.Join(vs, ", "))
	}

	caps := map[string][2]float64{}
	for _, w := range m.Works {
		path := filepath.Join(dir, w+"-capacity.json")
		if _, err := os.Stat(path); err == nil {
			c, s := capacity(path)
			caps[w] = [2]float64{c, s}
		}
	}

	headline(p, dir, m, caps)

	p("## Setup\n\n")
	p("The backend is `hangup demo` serving `GET /slow?seconds=S&work=W`, with a fixed capacity:\n\n")
	for _, w := range m.Works {
		switch w {
		case "postgres":
			p("- **postgres**: `--max-inflight %d --db-pool %d`, `seconds=%s`: each request holds one of %d PostgreSQL connections for `SELECT pg_sleep(%s)`, an exact service time; cancelling sends PostgreSQL a cancel request.\n",
				m.Params.Workers[w], m.Params.Workers[w], m.Params.Seconds[w], m.Params.Workers[w], m.Params.Seconds[w])
		case "sqlite":
			p("- **sqlite**: `--max-inflight %d`, `seconds=%s`: a recursive-CTE count in the embedded SQLite, pure CPU, sized at the demo's startup to take %s s on an idle core; interrupted by `sqlite3_interrupt`. With %d workers on 2 cores the queries run at about their calibrated speed, but they compete with everything else on the machine, so the real service time is measured, not assumed. "+
				"The demo's startup calibration varies a lot between starts on this (virtual) machine — from 0.35 to 6.2 million rows/s across the cells of one earlier run, so that `seconds=1` meant anything from 0.06 s to 3 s of work — so the script takes as reference the median calibration of 5 starts (%.2f million rows/s here) and restarts a cell's demo (up to 10 times) until its calibration is within ±%.0f%% of it. Even so, SQLite's service time moves with the machine's other work (cells run with a calibration still off are marked †): PostgreSQL's is the one to trust.\n",
				m.Params.Workers[w], m.Params.Seconds[w], m.Params.Seconds[w], m.Params.Workers[w], m.Params.SQLiteRate/1e6, 100*m.Params.SQLiteTol)
		}
	}
	p("\nA request beyond the workers waits in the demo for one (a Go channel: first come, first served), on its request context: with hangup, a waiter whose user left never starts.\n\n")
	p("**Capacity**, measured first: a patient closed-loop run (users = workers, no think time, patience 60 s) against the demo alone.\n\n")
	p("| work | workers | capacity C (responses/s) | service time S (mean latency, s) | workers / S |\n|---|---:|---:|---:|---:|\n")
	for _, w := range m.Works {
		if cs, ok := caps[w]; ok {
			p("| %s | %d | %.2f | %.3f | %.2f |\n", w, m.Params.Workers[w], cs[0], cs[1], float64(m.Params.Workers[w])/cs[1])
		}
	}
	p("\nC is what `hangup storm` counts over a run as long as a cell's, so it carries the same edge effect as every cell (the requests still running when the run ends are not counted: about S / duration); workers / S is the steady-state rate by Little's law.\n")
	p("\n**Users** are `hangup storm`'s closed-loop impatient users: patience `%s` (drawn afresh per request), think `%s` after a response, and when patience runs out they close the connection (FIN) and reload at once with probability %g (else think and come back). ",
		m.Params.Patience, m.Params.Think, m.Params.ReloadProb)
	p("**Load k×** is in users: a user served in S seconds who then thinks T asks for 1/(S+T) responses per second, so `users = round(k × C × (S + T))` users would ask for k times what the backend can serve if every request were served at once. Beyond 1× the backend cannot keep up, queues grow, waits exceed patience, and users abandon and reload: the offered request rate then exceeds k×C, since every reload is a new request.\n\n")
	p("Each cell starts fresh processes (backend, proxy), runs %s of the same load as warmup, then measures for %s with `hangup storm --metrics` scraping the **backend demo's** `/metrics` (never the proxy's), so that work counts are the backend's.\n\n", m.Params.Warmup, m.Params.Duration)
	p("Rows:\n\n")
	for _, sc := range scenarios {
		p("- **%s**: %s.\n", sc.name, sc.what)
	}
	p("\nBehind every proxy the backend runs **with hangup**, not with `--ignore-disconnect`. `--ignore-disconnect` detaches the work from the request entirely, so even a proxy that closes the upstream connection at once could not stop it; a real backend in any language can notice its connection closing (PHP's `connection_aborted()`, Node's `req.on('close')`, Go with hangup). The proxy's job is then to close the upstream connection promptly when its client leaves and to never forward a request whose client already left; rows (3)–(5) measure how well each proxy does that job. `hangup proxy` runs with `%s` (the queue timeout is the least patience minus the service time: a request that waited longer would most likely not be served before its user gives up, so it is answered 503 at once, and the user, who sees an error, thinks and comes back). nginx has no queue in its free version: it forwards everything and the demo's own queue holds the excess. HAProxy holds the excess in its `maxconn` queue (with `timeout queue 60s`), and `option abortonclose` drops a queued request whose client left; on this machine's HAProxy 2.6.12 it also aborts a request already sent upstream when its client leaves (the backend sees a reset and cancels; without `abortonclose` the backend is told nothing and completes the work).\n\n", m.Params.ProxyFlags)

	off := map[string]bool{}
	if b, err := os.ReadFile(filepath.Join(dir, "sqlite-calibration-off.txt")); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Fields(line); len(f) > 0 {
				off[f[0]] = true
			}
		}
	}
	p("## Results\n\n")
	p("Columns: **goodput** = responses delivered in full to a user still waiting, per second, and as %% of the measured capacity C; **abandoned** = requests whose user gave up, as %% of requests sent; **errors/s** = 5xx answers (the proxy's 503 when its queue times out), resets, …; **p50/p99** = latency of goodput (ms); backend work in seconds over the measured window: **useful** (delivered), **cancelled** (stopped early because its user left: the time spent before it stopped), **wasted** (run to the end for a user already gone); **wasted %%** = wasted / (useful + cancelled + wasted), the share of the backend's busy time thrown away.\n\n")
	p("The measured window counts work when it ends, so it includes the work left running by the warmup's users when the warmup ended (they closed their connections): about one service time per worker, ≈4 s for postgres, counted as cancelled (hangup) or wasted (no hangup) in every row. At 1× that is all of the cancelled or wasted seconds.\n\n")
	for _, w := range m.Works {
		cs, ok := caps[w]
		if !ok {
			p("### %s\n\nnot run: no capacity measurement.\n\n", w)
			continue
		}
		p("### %s (C = %.2f responses/s)\n\n", w, cs[0])
		p("| load | users | scenario | goodput/s | %% of C | abandoned | errors/s | p50 ms | p99 ms | useful s | cancelled s | wasted s | wasted %% |\n")
		p("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, k := range m.Params.Loads {
			for _, sc := range scenarios {
				base := filepath.Join(dir, fmt.Sprintf("%s-%dx-%s", w, k, sc.id))
				if reason, err := os.ReadFile(base + ".skip"); err == nil {
					p("| %d× | | %s | %s | | | | | | | | | |\n", k, sc.name, strings.TrimSpace(string(reason)))
					continue
				}
				if _, err := os.Stat(base + ".json"); err != nil {
					continue
				}
				r := readResult(base + ".json")
				mark := ""
				if off[filepath.Base(base)] {
					mark = " †"
				}
				t := &r.Totals
				u, c, wa, share, ok := r.work()
				workCols := "| n/a | n/a | n/a | n/a"
				if ok {
					workCols = fmt.Sprintf("| %.1f | %.1f | %.1f | %.1f%%", u, c, wa, 100*share)
				}
				lat := "| – | –"
				if t.Latency.Count > 0 {
					lat = fmt.Sprintf("| %.0f | %.0f", t.Latency.P50, t.Latency.P99)
				}
				p("| %d× | %d | %s%s | %.2f | %.0f%% | %.0f%% | %.2f %s %s |\n",
					k, r.Config.Users, sc.name, mark, t.GoodputPerS, 100*t.GoodputPerS/cs[0], 100*r.abandonedShare(),
					float64(t.Errors)/max(t.ElapsedS, 1e-9), lat, workCols)
			}
		}
		p("\n")
	}
	reading(p, dir, m, caps)
	p("Raw JSON of every cell (hangup storm's `--json`, with the per-second series) is in `bench/results/`; `meta.json` there records the parameters.\n")
}

// headline states the 5× comparison plainly, for every work measured.
func headline(p func(string, ...any), dir string, m meta, caps map[string][2]float64) {
	top := 0
	for _, k := range m.Params.Loads {
		top = max(top, k)
	}
	get := func(w, sc string) *result {
		path := filepath.Join(dir, fmt.Sprintf("%s-%dx-%s.json", w, top, sc))
		if _, err := os.Stat(path); err != nil {
			return nil
		}
		return readResult(path)
	}
	p("## Headline\n\n")
	for _, l := range m.Later {
		name := l.Scenario
		for _, sc := range scenarios {
			if sc.id == l.Scenario {
				name = sc.name
			}
		}
		p("> Row **%s** (%s) comes from a later run, `%s`: %s\n\n", name, strings.Join(l.Works, ", "), l.Command, l.Note)
	}
	for _, w := range m.Works {
		cs, ok := caps[w]
		if !ok {
			continue
		}
		h, b := get(w, "hangup"), get(w, "baseline")
		if h == nil || b == nil {
			continue
		}
		pct := func(r *result) float64 { return 100 * r.Totals.GoodputPerS / cs[0] }
		waste := func(r *result) float64 { _, _, _, s, _ := r.work(); return 100 * s }
		p("- **%s, %d× overload**: goodput **%.0f%%** of capacity with hangup vs **%.0f%%** without; wasted work **%.1f%%** of the backend's busy time vs **%.1f%%**.\n",
			w, top, pct(h), pct(b), waste(h), waste(b))
		for _, sc := range []struct{ id, name string }{{"hangup-queue", "hangup with its Admission line (`--queue-timeout`)"}, {"proxy", "behind hangup proxy (queue)"}, {"proxy-coalesce", "behind hangup proxy (queue + coalesce)"}, {"nginx", "behind nginx"}, {"haproxy", "behind HAProxy"}} {
			if r := get(w, sc.id); r != nil {
				p("  - %s: goodput %.0f%%, wasted %.1f%%\n", sc.name, pct(r), waste(r))
			}
		}
		floorG, floorW := pct(h) >= 90, waste(h) <= 5
		p("  - floors for hangup alone at %d× (goodput ≥ 90%% of capacity, wasted ≤ 5%%): goodput %s, wasted %s\n", top, metOrNot(floorG), metOrNot(floorW))
		if q := get(w, "hangup-queue"); q != nil {
			p("  - the same floors for hangup with its Admission line: goodput %s, wasted %s\n", metOrNot(pct(q) >= 90), metOrNot(waste(q) <= 5))
		}
	}
	p("\n")
}

func metOrNot(ok bool) string {
	if ok {
		return "**met**"
	}
	return "**missed**"
}

// reading explains the top load's figures: what each row's backend time went
// to, and why.
func reading(p func(string, ...any), dir string, m meta, caps map[string][2]float64) {
	top := 0
	for _, k := range m.Params.Loads {
		top = max(top, k)
	}
	p("## Reading the results\n\n")
	for _, w := range m.Works {
		cs, ok := caps[w]
		if !ok {
			continue
		}
		get := func(sc string) *result {
			path := filepath.Join(dir, fmt.Sprintf("%s-%dx-%s.json", w, top, sc))
			if _, err := os.Stat(path); err != nil {
				return nil
			}
			return readResult(path)
		}
		pct := func(r *result) float64 { return 100 * r.Totals.GoodputPerS / cs[0] }
		b, h := get("baseline"), get("hangup")
		if b == nil || h == nil {
			continue
		}
		bu, bc, bw, bs, _ := b.work()
		hu, hc, hw, _, _ := h.work()
		p("**%s at %d×.** Without hangup the backend is busy all the time (%.0f s of work in %.0f s on %d workers) but %.0f%% of it is for users who already left: "+
			"every abandoned request, queued or running, is still worked to the end, the queue fills with such requests, and the few that are served in time are the exception (goodput %.0f%% of capacity). ",
			w, top, bu+bc+bw, b.Totals.ElapsedS, m.Params.Workers[w], 100*bs, pct(b))
		busyH := hu + hc + hw
		p("With hangup nothing is wasted (%.1f s) and a request whose user leaves while it waits never starts, but goodput is only %.0f%% of capacity: of the backend's %.0f s of work, %.0f s (%.0f%%) were **cancelled** part way, work started for users who then gave up before it ended. ",
			hw, pct(h), busyH, hc, 100*hc/max(busyH, 1e-9))
		p("The cause is the demo's queue, not cancellation: waiters take a worker first come, first served, and under overload the request at the head of the line is the one that has waited longest, so the one with the least patience left; "+
			"with patience %s and %s s of work, a request that waited more than about %.1f s is likely to be abandoned while it runs. Cancelling it frees the worker at once, for the next-oldest request, which is in the same position. "+
			"Cancellation stops the waste; to turn the freed time into goodput, the queue must also stop serving requests that cannot finish in time: ",
			m.Params.Patience, m.Params.Seconds[w], parsePatienceMin(m.Params.Patience)-cs[1])
		if r := get("hangup-queue"); r != nil {
			p("hangup's own `Admission` line with a wait limit does, in the demo itself (`--queue-timeout`; %.0f%% of capacity, %.1f 503/s answered at once). ",
				pct(r), float64(r.Totals.Errors)/max(r.Totals.ElapsedS, 1e-9))
		}
		if r := get("proxy"); r != nil {
			p("`hangup proxy` with a queue timeout does (%.0f%% of capacity, %.1f 503/s answered at once to the requests that waited too long; the price is paid at low load, where the same timeout also turns away some requests that would have been served in time). ",
				pct(r), float64(r.Totals.Errors)/max(r.Totals.ElapsedS, 1e-9))
		} else {
			p("an admission queue with a timeout, or a last-come-first-served queue, would. ")
		}
		if r := get("proxy-coalesce"); r != nil {
			u, c, wa, _, _ := r.work()
			p("With coalescing every user asks for the same URL, the best case for it: one upstream request serves all the users waiting at the time, hence goodput beyond the capacity (%.0f%%) for %.0f s of backend work; it says what coalescing can do for a hot URL, not how the backend copes. ",
				pct(r), u+c+wa)
		}
		if r := get("nginx"); r != nil {
			p("nginx closes the upstream connection the moment its client leaves, so the backend with hangup stops that work, and the demo's own first-come-first-served queue behaves as in row (2) (%.0f%% of capacity, wasted %.1f%%). ", pct(r), 100*share(r))
		}
		if r := get("haproxy"); r != nil {
			p("HAProxy's `option abortonclose` drops a queued request whose client left and, in this version, also aborts the request in flight to the backend (which sees a reset and cancels); its `maxconn` queue is first come, first served too (%.0f%% of capacity, wasted %.1f%%). ", pct(r), 100*share(r))
		}
		p("\n\n")
	}
	p("Behind a proxy that never told the backend (HAProxy without `option abortonclose`), the backend would count the work of a user who left as *completed*, since it never learns the difference: its own `wasted` figure is then 0 while the waste is real. In these rows every proxy tells, and the backend's useful seconds match the goodput.\n\n")
}

func share(r *result) float64 { _, _, _, s, _ := r.work(); return s }

// parsePatienceMin is the least patience of uniform:A-B, or the fixed one.
func parsePatienceMin(s string) float64 {
	s = strings.TrimPrefix(s, "uniform:")
	s, _, _ = strings.Cut(s, "-")
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0
	}
	return d.Seconds()
}
