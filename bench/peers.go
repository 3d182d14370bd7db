//go:build ignore

// peers is bench/peers.sh's helper: the loopback server all three load
// generators hit, a runner that measures a process's CPU from
// /proc/PID/stat, and the table of bench/PEERS.md.
//
//	go build -o peers bench/peers.go bench/cli.go
//	peers serve ADDRFILE SERVICE         serve on 127.0.0.1:0 (address written to ADDRFILE); / sleeps SERVICE, /count counts
//	peers run OUT.cpu OUT -- CMD ARGS…   run CMD with stdout to OUT; its CPU (utime+stime, /proc/PID/stat),
//	                                     the machine's load and the server's count (PEERS_COUNT_URL) over the run to OUT.cpu
//	peers table RESULTS_DIR              bench/PEERS.md on stdout, from RESULTS_DIR/peers-*
//
// It is not part of the module's packages (build tag ignore).
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

func main() {
	if len(os.Args) < 2 {
		fail("usage: peers serve|run|table ...")
	}
	args := os.Args[2:]
	switch os.Args[1] {
	case "serve":
		need(args, 2)
		d, err := time.ParseDuration(args[1])
		check(err)
		serve(args[0], d)
	case "run":
		if len(args) < 4 || args[2] != "--" {
			fail("usage: peers run OUT.cpu OUT -- CMD ARGS...")
		}
		runMeasured(args[0], args[1], args[3:])
	case "table":
		need(args, 1)
		table(args[0])
	default:
		fail("unknown command " + os.Args[1])
	}
}

// serve answers every request after service, with a 64-byte body, and
// counts the answers it wrote; GET /count returns the count so far.
func serve(addrFile string, service time.Duration) {
	var answered atomic.Int64
	body := []byte(strings.Repeat("x", 63) + "\n")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	check(err)
	check(os.WriteFile(addrFile, []byte(ln.Addr().String()), 0o644))
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/count" {
			fmt.Fprintln(w, answered.Load())
			return
		}
		t := time.NewTimer(service)
		defer t.Stop()
		select {
		case <-t.C:
			w.Header().Set("Content-Type", "text/plain")
			w.Write(body)
			answered.Add(1)
		case <-r.Context().Done():
		}
	})}
	check(srv.Serve(ln))
}

// cpu is a process's CPU time as /proc/PID/stat gave it at its exit, and
// as wait4's rusage gave it: the two should agree to a clock tick.
type cpu struct {
	StatS   float64 `json:"stat_s"`   // utime+stime from /proc/PID/stat, read while the process was a zombie
	RusageS float64 `json:"rusage_s"` // user+sys from wait4
	WallS   float64 `json:"wall_s"`
	Exit    int     `json:"exit"`
	Load1   float64 `json:"load1"`  // the 1-minute load average at the end
	Busy    float64 `json:"busy"`   // the share of the machine's CPU time busy during the run, all processes
	Server  float64 `json:"server"` // responses the server wrote during the run
}

// machineTicks returns the busy and total CPU ticks of the machine so far
// (/proc/stat's first line; idle and iowait are not busy).
func machineTicks() (busy, total float64) {
	b, err := os.ReadFile("/proc/stat")
	check(err)
	f := strings.Fields(strings.SplitN(string(b), "\n", 2)[0])[1:]
	for i, x := range f[:min(len(f), 8)] {
		v, _ := strconv.ParseFloat(x, 64)
		total += v
		if i != 3 && i != 4 {
			busy += v
		}
	}
	return busy, total
}

// serverCount asks the server how many responses it wrote; 0 without
// PEERS_COUNT_URL.
func serverCount() float64 {
	u := os.Getenv("PEERS_COUNT_URL")
	if u == "" {
		return 0
	}
	resp, err := http.Get(u)
	check(err)
	defer resp.Body.Close()
	var n float64
	_, err = fmt.Fscan(resp.Body, &n)
	check(err)
	return n
}

// runMeasured runs the command, waits for it to exit without reaping it
// (waitid WNOWAIT), so that /proc/PID/stat still holds its final utime and
// stime, reads them, then reaps it.
func runMeasured(cpuFile, outFile string, argv []string) {
	out, err := os.Create(outFile)
	check(err)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = out, os.Stderr
	count0 := serverCount()
	busy0, total0 := machineTicks()
	start := time.Now()
	check(cmd.Start())
	pid := cmd.Process.Pid
	var info unix.Siginfo
	check(unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil))
	wall := time.Since(start)
	busy1, total1 := machineTicks()
	count1 := serverCount()
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	check(err)
	// The fields after the command name, which is in parentheses and
	// may hold spaces: state is field 3, utime 14, stime 15.
	f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+2:]))
	utime, _ := strconv.ParseFloat(f[11], 64)
	stime, _ := strconv.ParseFloat(f[12], 64)
	const hz = 100 // USER_HZ: /proc reports clock ticks of 1/100 s on Linux
	var ws syscall.WaitStatus
	var ru syscall.Rusage
	_, err = syscall.Wait4(pid, &ws, 0, &ru)
	check(err)
	out.Close()
	c := cpu{
		StatS:   (utime + stime) / hz,
		RusageS: time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds(),
		WallS:   wall.Seconds(),
		Exit:    ws.ExitStatus(),
		Busy:    (busy1 - busy0) / max(total1-total0, 1),
		Server:  count1 - count0,
	}
	if la, err := os.ReadFile("/proc/loadavg"); err == nil {
		c.Load1, _ = strconv.ParseFloat(strings.Fields(string(la))[0], 64)
	}
	b, _ := json.Marshal(c)
	check(os.WriteFile(cpuFile, b, 0o644))
	if c.Exit != 0 {
		fail(fmt.Sprintf("%s exited %d", argv[0], c.Exit))
	}
}

// figures is what one tool reported for one run, in the same units.
type figures struct {
	RPS   float64 // responses per second
	P50   float64 // ms
	P99   float64 // ms
	N     float64 // responses
	CPUms float64 // CPU per response, ms (stat)
}

func readStorm(path string) figures {
	var r struct {
		Totals struct {
			Goodput     float64 `json:"goodput"`
			GoodputPerS float64 `json:"goodput_per_s"`
			Abandoned   float64 `json:"abandoned"`
			Errors      float64 `json:"errors"`
			Latency     struct {
				P50 float64 `json:"p50"`
				P99 float64 `json:"p99"`
			} `json:"latency_ms"`
		} `json:"totals"`
	}
	b, err := os.ReadFile(path)
	check(err)
	check(json.Unmarshal(b, &r))
	if r.Totals.Abandoned != 0 || r.Totals.Errors != 0 {
		fail(fmt.Sprintf("%s: %v abandoned, %v errors: not a patient run", path, r.Totals.Abandoned, r.Totals.Errors))
	}
	return figures{RPS: r.Totals.GoodputPerS, P50: r.Totals.Latency.P50, P99: r.Totals.Latency.P99, N: r.Totals.Goodput}
}

var (
	heyRPS   = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	heyPct   = regexp.MustCompile(`(?m)^\s+(50|99)%+ in ([0-9.]+) secs`)
	heyCodes = regexp.MustCompile(`\[200\]\s+(\d+) responses`)
)

func readHey(path string) figures {
	b, err := os.ReadFile(path)
	check(err)
	s := string(b)
	var f figures
	m := heyRPS.FindStringSubmatch(s)
	if m == nil {
		fail(path + ": no Requests/sec")
	}
	f.RPS, _ = strconv.ParseFloat(m[1], 64)
	for _, m := range heyPct.FindAllStringSubmatch(s, -1) {
		v, _ := strconv.ParseFloat(m[2], 64)
		if m[1] == "50" {
			f.P50 = v * 1000
		} else {
			f.P99 = v * 1000
		}
	}
	if m := heyCodes.FindStringSubmatch(s); m != nil {
		f.N, _ = strconv.ParseFloat(m[1], 64)
	}
	return f
}

func readVegeta(path string) figures {
	var r struct {
		Latencies struct {
			P50 float64 `json:"50th"`
			P99 float64 `json:"99th"`
		} `json:"latencies"`
		Throughput float64        `json:"throughput"`
		Success    float64        `json:"success"`
		Requests   float64        `json:"requests"`
		Codes      map[string]int `json:"status_codes"`
	}
	b, err := os.ReadFile(path)
	check(err)
	check(json.Unmarshal(b, &r))
	return figures{RPS: r.Throughput, P50: r.Latencies.P50 / 1e6, P99: r.Latencies.P99 / 1e6, N: float64(r.Codes["200"])}
}

// rusageGap is the largest difference between a run's CPU as
// /proc/PID/stat and as wait4 gave it, in seconds and as a share of it.
func rusageGap(dir string, m meta) (gap, rel float64) {
	for _, mode := range m.Modes {
		for _, t := range tools {
			for r := 1; r <= m.Rounds; r++ {
				c := readCPU(filepath.Join(dir, fmt.Sprintf("peers-%s-%s-r%d.cpu", mode.ID, t, r)))
				d := math.Abs(c.StatS - c.RusageS)
				gap, rel = max(gap, d), max(rel, d/max(c.RusageS, 1e-9))
			}
		}
	}
	return gap, rel
}

func readCPU(path string) cpu {
	var c cpu
	b, err := os.ReadFile(path)
	check(err)
	check(json.Unmarshal(b, &c))
	return c
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

type meta struct {
	Date     string            `json:"date"`
	Command  string            `json:"command"`
	Machine  string            `json:"machine"`
	Versions map[string]string `json:"versions"`
	Service  string            `json:"service"`
	Duration string            `json:"duration"`
	Rounds   int               `json:"rounds"`
	Modes    []struct {
		ID    string            `json:"id"`
		What  string            `json:"what"`
		Flags map[string]string `json:"flags"`
	} `json:"modes"`
}

var tools = []string{"storm", "hey", "vegeta"}

func table(dir string) {
	var m meta
	b, err := os.ReadFile(filepath.Join(dir, "peers-meta.json"))
	check(err)
	check(json.Unmarshal(b, &m))
	w := bufio.NewWriter(os.Stdout)
	defer w.Flush()
	p := func(format string, a ...any) { fmt.Fprintf(w, format, a...) }

	p("# hangup storm against hey and vegeta\n\n")
	gap, rel := rusageGap(dir, m)
	p("Measured by `%s` on %s. Machine: %s.\n\n", m.Command, m.Date, m.Machine)
	var vs []string
	for _, k := range []string{"go", "hey", "vegeta"} {
		vs = append(vs, k+" "+m.Versions[k])
	}
	p("Versions: %s.\n\n", strings.Join(vs, ", "))
	p("One loopback server (`bench/peers.go serve`, Go net/http, every request answered after %s with a 64-byte body) takes, in turn, storm in patient mode (`--patience inf`: no user gives up), hey and vegeta, each for %s, in %d rounds; the order of the tools rotates from round to round. ", m.Service, m.Duration, m.Rounds)
	p("Figures are the medians of the rounds. CPU is the tool's own utime+stime from `/proc/PID/stat`, read when it has exited and before it is reaped (a zombie keeps its final times), divided by the responses it counted; wait4's rusage, in the same raw files, differs from it by %.0f ms at most (%.1f%% of that run's CPU).\n\n", 1000*gap, 100*rel)

	var busy, loads []float64
	for _, mode := range m.Modes {
		for _, t := range tools {
			for r := 1; r <= m.Rounds; r++ {
				c := readCPU(filepath.Join(dir, fmt.Sprintf("peers-%s-%s-r%d.cpu", mode.ID, t, r)))
				busy, loads = append(busy, c.Busy), append(loads, c.Load1)
			}
		}
	}
	p("The machine has 2 cores, shared with other work: over the runs the 1-minute load average was %.1f–%.1f (median %.1f) and the whole machine was busy %.0f%%–%.0f%% of the time (median %.0f%%; all processes, the server and the tool included). Absolute figures are this machine's; the ratios are the result.\n\n",
		slices.Min(loads), slices.Max(loads), median(loads), 100*slices.Min(busy), 100*slices.Max(busy), 100*median(busy))

	medians := map[string]map[string]figures{}
	spread := map[string][2]float64{}
	for _, mode := range m.Modes {
		p("## %s\n\n", mode.What)
		for _, t := range tools {
			p("- %s: `%s`\n", t, mode.Flags[t])
		}
		p("\n| tool | responses/s | p50 ms | p99 ms (rounds' range) | CPU µs/response | server counted / tool counted | storm ÷ tool: responses/s | p50 | p99 | CPU |\n")
		p("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		med := map[string]figures{}
		for _, t := range tools {
			var rps, p50, p99, cpus, agree []float64
			for r := 1; r <= m.Rounds; r++ {
				base := filepath.Join(dir, fmt.Sprintf("peers-%s-%s-r%d", mode.ID, t, r))
				var f figures
				switch t {
				case "storm":
					f = readStorm(base + ".json")
				case "hey":
					f = readHey(base + ".txt")
				case "vegeta":
					f = readVegeta(base + ".json")
				}
				c := readCPU(base + ".cpu")
				rps, p50, p99 = append(rps, f.RPS), append(p50, f.P50), append(p99, f.P99)
				if f.N > 0 {
					cpus = append(cpus, c.StatS/f.N*1e6)
				}
				if f.N > 0 {
					agree = append(agree, c.Server/f.N)
				}
			}
			med[t] = figures{RPS: median(rps), P50: median(p50), P99: median(p99), CPUms: median(cpus)}
			spread[mode.ID+"-"+t] = [2]float64{slices.Min(p99), slices.Max(p99)}
			f := med[t]
			ratio := "| | | |"
			if t != "storm" {
				s := med["storm"]
				ratio = fmt.Sprintf("| %.2f | %.2f | %.2f | %.2f", s.RPS/f.RPS, s.P50/f.P50, s.P99/f.P99, s.CPUms/f.CPUms)
			} else {
				ratio = "| – | – | – | –"
			}
			p("| %s | %.0f | %.2f | %.2f (%.0f–%.0f) | %.0f | %.3f %s |\n", t, f.RPS, f.P50, f.P99, slices.Min(p99), slices.Max(p99), f.CPUms, median(agree), ratio)
		}
		p("\n")
		medians[mode.ID] = med
	}
	differs(p, medians, spread)
}

// differs is the section that says where storm's figures differ from its
// peers' and why, with this run's figures.
func differs(p func(string, ...any), med map[string]map[string]figures, spread map[string][2]float64) {
	c, o := med["closed"], med["open"]
	if c == nil || o == nil {
		return
	}
	within := func(m map[string]figures, get func(figures) float64) float64 {
		worst := 0.0
		for _, t := range []string{"hey", "vegeta"} {
			worst = max(worst, math.Abs(get(m["storm"])/get(m[t])-1))
		}
		return 100 * worst
	}
	rps := func(f figures) float64 { return f.RPS }
	p50 := func(f figures) float64 { return f.P50 }
	lo, hi := math.Inf(1), 0.0
	for _, r := range spread {
		lo, hi = min(lo, r[1]/r[0]), max(hi, r[1]/r[0])
	}
	p("## Where storm agrees, and where it differs\n\n")
	p("**Throughput and p50 agree**: storm's medians are within %.0f%% (responses/s) and %.0f%% (p50) of hey's and vegeta's in the closed loop, %.0f%% and %.0f%% in the open loop. The server's own count of the responses it wrote matches each tool's count (the column \"server counted / tool counted\"; storm's is a little above 1 when requests still running at the end of a run are answered after storm stopped counting them).\n\n",
		within(c, rps), within(c, p50), within(o, rps), within(o, p50))
	var p99 []string
	for _, mode := range []struct {
		name string
		m    map[string]figures
	}{{"closed", c}, {"open", o}} {
		for _, t := range []string{"hey", "vegeta"} {
			r := mode.m["storm"].P99 / mode.m[t].P99
			verdict := "within 10%"
			if math.Abs(r-1) > 0.10 {
				verdict = "outside 10%"
			}
			p99 = append(p99, fmt.Sprintf("%.3f× %s's in the %s loop (%s)", r, t, mode.name, verdict))
		}
	}
	p("**p99**: storm's median p99 is %s. The same tool's p99 moves by a factor of %.1f to %.1f from one round to the next (the ranges in the tables): the tail is set by the scheduling of processes on two cores that other work saturates more than by the tool, and hey's median p99 is itself %.2f× vegeta's in the closed loop and %.2f× in the open loop. ",
		strings.Join(p99, ", "), lo, hi, c["hey"].P99/c["vegeta"].P99, o["hey"].P99/o["vegeta"].P99)
	if o["storm"].P99 > max(o["hey"].P99, o["vegeta"].P99) {
		p("storm's open-loop p99 is the highest of the three, which its Poisson arrivals and its connect per visitor (below) would explain; this run cannot tell that from the noise. ")
	}
	p("A bound of 10%% on p99 is only a test of the tools on a machine that is otherwise idle.\n\n")
	p("**CPU per response**: in the closed loop storm uses %.2f× hey's and %.2f× vegeta's CPU per response. Each storm user owns one keep-alive connection, writes a request serialized once at the start, and reads the answer with `http.ReadResponse` on its own buffered reader: no `net/http` Transport, whose connection pool, per-connection read and write goroutines and request cloning hey and vegeta pay for on every request. ", c["storm"].CPUms/c["hey"].CPUms, c["storm"].CPUms/c["vegeta"].CPUms)
	p("In the open loop storm uses %.2f× hey's and %.2f× vegeta's: every storm visitor is a new user, with a goroutine and a **new TCP connection** of its own (connect, and close after the answer), as a new browser would be, where hey and vegeta reuse pooled keep-alive connections for every request. Its latencies include that connect (tens of microseconds on loopback). ", o["storm"].CPUms/o["hey"].CPUms, o["storm"].CPUms/o["vegeta"].CPUms)
	p("storm's arrivals are a Poisson process (exponential gaps, the same mean rate), burstier than vegeta's evenly paced ones, which raises its tail at the same rate; hey's `-q` is not an open loop at all but a per-worker cap on a closed loop (`-c 20 -q R/20`).\n\n")
	p("**Start**: storm's closed-loop users start spread over their first 100 ms, hey's and vegeta's workers at once; over a run of seconds that is under 1%% of the responses.\n")
}
