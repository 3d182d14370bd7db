package demo_test

import (
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/hangup-dev/hangup/cmd/demo"
)

// inCI tells whether the tests run under CI, where a missing browser or
// database is a failure rather than a reason to skip.
func inCI() bool { return strings.EqualFold(os.Getenv("CI"), "true") }

// chromium finds the browser, or skips (fails under CI).
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if inCI() {
		t.Fatal("chromium is not installed (CI=true: it is required); apt-get install chromium")
	}
	t.Skip("chromium is not installed; apt-get install chromium")
	return ""
}

// artifactDir is where the browser test saves its screenshot: $HANGUP_ARTIFACTS,
// ./artifacts at the repository's root under CI, else a new temporary directory.
func artifactDir(t *testing.T) string {
	if d := os.Getenv("HANGUP_ARTIFACTS"); d != "" {
		return d
	}
	if inCI() {
		return filepath.Join("..", "..", "artifacts") // the test runs in cmd/demo/
	}
	d, err := os.MkdirTemp("", "hangup-artifacts-")
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// browser is a headless Chromium with one tab on the demo page.
type browser struct {
	t   *testing.T
	ctx context.Context // the page's tab
}

func startBrowser(t *testing.T, url string) *browser {
	t.Helper()
	path := chromium(t)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 1100),
	)
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	b := &browser{t: t, ctx: ctx}
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		t.Fatalf("loading the page: %v", err)
	}
	t.Cleanup(func() {
		if !t.Failed() && os.Getenv("HANGUP_ARTIFACTS") == "" {
			return
		}
		b.screenshot(filepath.Join(artifactDir(t), "demo-page.png"))
	})
	return b
}

func (b *browser) screenshot(path string) {
	sctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	quality := 100 // PNG
	if ext := strings.ToLower(filepath.Ext(path)); ext == ".jpg" || ext == ".jpeg" {
		quality = 90
	}
	img, err := chromedp.Run(sctx, chromedp.FullScreenshot(quality))
	if err == nil {
		os.MkdirAll(filepath.Dir(path), 0o755)
		err = os.WriteFile(path, img, 0o644)
	}
	if err != nil {
		b.t.Logf("screenshot: %v", err)
		return
	}
	b.t.Logf("screenshot of the page: %s", path)
}

func (b *browser) do(steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, waitLong)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.t.Fatal(err)
	}
}

func (b *browser) click(id string) { b.t.Helper(); b.do(chromedp.Click(chromedp.ID(id))) }

func (b *browser) eval(js string) {
	b.t.Helper()
	b.do(chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Evaluate[chromedp.Void](js)(ctx, t)
		return err
	}))
}

// waitText polls the text of the element id until it contains every one of
// want.
func (b *browser) waitText(id string, want ...string) string {
	b.t.Helper()
	js := fmt.Sprintf(`(() => { const e = document.getElementById(%q); return e ? e.textContent : ""; })()`, id)
	text := func() string {
		ctx, cancel := context.WithTimeout(b.ctx, waitLong)
		defer cancel()
		text, err := chromedp.Run(ctx, chromedp.Evaluate[string](js))
		if err != nil {
			b.t.Fatal(err)
		}
		return text
	}
	return poll(b.t, fmt.Sprintf("#%s saying %q", id, want), 50*time.Millisecond, text, func(text string) bool {
		for _, w := range want {
			if !strings.Contains(text, w) {
				return false
			}
		}
		return true
	})
}

// TestBrowser drives the page in a real headless Chromium: each way a
// browser abandons a request stops the work behind it, as the server's
// reports and the page's live log both show.
func TestBrowser(t *testing.T) {
	chromium(t)
	d := startDemo(t, demo.Config{UploadCheck: 200 * time.Millisecond, UploadRate: 4 << 20})
	b := startBrowser(t, d.url+"/")
	b.waitText("conn", "live")
	b.eval(`document.getElementById("seconds").value = "30"; updateLink();`)

	// startedSlow waits for the server to start working on a /slow request.
	startedSlow := func(what string) uint64 {
		e := d.waitEvent(what, func(e demo.Event) bool {
			return e.Kind == "start" && strings.HasPrefix(e.Path, "/slow?seconds=30&work=sqlite")
		})
		d.waitKind(e.ID, "progress")
		return e.ID
	}
	// stopped checks that the work of request id stopped, from the server's
	// side, and that the page's log shows it.
	// For /slow, the work that stopped is the SQLite query, interrupted;
	// for /upload, the reading of the body.
	stopped := func(t *testing.T, id uint64, phase string) {
		t.Helper()
		end := d.waitKind(id, "end")
		expectGoneEnd(t, end, demo.OutcomeCancelled, phase)
		path, workErr := "/slow", demo.ErrInterrupted.Error()
		if phase == "reading_body" {
			path, workErr = "/upload", "reading the body after"
		}
		if !strings.Contains(end.Err, workErr) {
			t.Errorf("request %d: work error %q, want it to say %q", id, end.Err, workErr)
		}
		rep := d.waitReport(path)
		t.Logf("request %d: client gone (%s, %s); work stopped %v after the disconnect; %s",
			id, rep.Phase, rep.Reason, rep.StoppedAfter, end.Err)
		b.waitText(fmt.Sprintf("req-%d", id), "client gone (phase "+phase, "work stopped", "work error: "+workErr)
	}

	// on points the helpers at the running subtest.
	on := func(t *testing.T) { d.t, b.t = t, t }

	t.Run("abort fetch", func(t *testing.T) {
		on(t)
		b.click("fetch-start")
		id := startedSlow("the fetch's request")
		b.click("fetch-abort")
		stopped(t, id, "handler")
		b.waitText("fetch-status", "aborted")
	})

	t.Run("close tab", func(t *testing.T) {
		on(t)
		tab, closeTab := chromedp.NewContext(b.ctx)
		defer closeTab()
		if err := chromedp.Do(tab); err != nil { // opens the tab
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Returns when the tab is closed: the page never loads.
			cdp.Call(tab, chromedp.FromContext(tab).Target, page.Navigate,
				page.NavigateParams{URL: d.url + "/slow?seconds=30&work=sqlite"})
		}()
		id := startedSlow("the new tab's request")
		closeTab()
		wg.Wait()
		stopped(t, id, "handler")
	})

	t.Run("abort upload", func(t *testing.T) {
		on(t)
		b.eval(`document.getElementById("upload-size").value = "16";`)
		b.click("upload-start")
		e := d.waitEvent("the upload's request", func(e demo.Event) bool {
			return e.Kind == "start" && e.Path == "/upload"
		})
		d.waitEvent("the upload's body being read", func(ev demo.Event) bool {
			return ev.ID == e.ID && ev.Kind == "progress" && ev.Progress > 0
		})
		b.click("upload-abort")
		stopped(t, e.ID, "reading_body")
		b.waitText("upload-status", "aborted")
	})

	t.Run("upload without credentials", func(t *testing.T) {
		on(t)
		b.click("upload-noauth")
		status := b.waitText("upload-status", "401")
		t.Logf("page: %s", status)
	})
	on(t)

	// HANGUP_SCREENSHOT=docs/demo.png (from the repository's root: the test
	// runs in cmd/demo/, relative paths are taken from there) saves the page
	// as the scenario left it, for the README; .jpg saves a JPEG.
	if path := os.Getenv("HANGUP_SCREENSHOT"); path != "" && !t.Failed() {
		if !filepath.IsAbs(path) {
			path = filepath.Join("..", "..", path)
		}
		b.screenshot(path)
	}
}

// dataset reads the data attributes of the element id.
func (b *browser) dataset(id string) map[string]string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, waitLong)
	defer cancel()
	js := fmt.Sprintf(`(() => { const e = document.getElementById(%q); return e ? Object.assign({}, e.dataset) : {}; })()`, id)
	ds, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]string](js))
	if err != nil {
		b.t.Fatal(err)
	}
	return ds
}

// chartNumbers are the numbers the page's charts show, read from the data
// attributes they write.
type chartNumbers struct {
	working, workingGone, waiting, waitingGone, peakGone int
	wastedSeconds                                        float64
	abandoned                                            int
	afterGone                                            []int     // per bucket: at most afterGoneBounds[i] seconds, the last past them all
	afterGoneBounds                                      []float64 // seconds
	afterGoneCount                                       int
}

// afterGonePast counts the abandoned requests whose work ran on past s
// seconds after their client left (s one of the bounds).
func (n chartNumbers) afterGonePast(s float64) int {
	var c int
	for i, v := range n.afterGone {
		if i == len(n.afterGoneBounds) || n.afterGoneBounds[i] > s {
			c += v
		}
	}
	return c
}

func (b *browser) charts() chartNumbers {
	b.t.Helper()
	load, hist := b.dataset("load-summary"), b.dataset("hist-summary")
	parse := func(what, v string) float64 {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			b.t.Fatalf("the charts' %s: %q: %v", what, v, err)
		}
		return f
	}
	num := func(ds map[string]string, k string) float64 { return parse(k, ds[k]) }
	n := chartNumbers{
		working:        int(num(load, "working")),
		workingGone:    int(num(load, "workingGone")),
		waiting:        int(num(load, "waiting")),
		waitingGone:    int(num(load, "waitingGone")),
		peakGone:       int(num(load, "peakGone")),
		wastedSeconds:  num(load, "wastedSeconds"),
		abandoned:      int(num(load, "abandoned")),
		afterGoneCount: int(num(hist, "count")),
	}
	for c := range strings.SplitSeq(hist["counts"], ",") {
		n.afterGone = append(n.afterGone, int(parse("histogram's counts", c)))
	}
	for c := range strings.SplitSeq(hist["bounds"], ",") {
		n.afterGoneBounds = append(n.afterGoneBounds, parse("histogram's bounds", c))
	}
	if len(n.afterGone) != len(n.afterGoneBounds)+1 {
		b.t.Fatalf("the histogram has %d buckets for %d bounds", len(n.afterGone), len(n.afterGoneBounds))
	}
	return n
}

// waitCharts polls the page's charts until ok holds, and returns them.
func (b *browser) waitCharts(what string, ok func(chartNumbers) bool) chartNumbers {
	b.t.Helper()
	return poll(b.t, "charts: "+what, 100*time.Millisecond, b.charts, ok)
}

// TestBrowserMashReload is the seed's own scenario in a real headless
// Chromium: "mash reload" fires requests in a row, each abandoned after a
// short patience. With cancellation, the page's chart of work for nobody
// drops to zero and nothing is wasted; with IgnoreDisconnect, work for
// nobody piles up and every request's work is done for nobody. Each time
// the charts' numbers are those of /metrics.
func TestBrowserMashReload(t *testing.T) {
	chromium(t)
	const (
		requests = 8
		seconds  = 4 // of upstream work each: a sleep, cheap for a loaded machine
		workers  = 4
	)
	wasted := map[bool]float64{}
	for _, tc := range []struct {
		name   string
		ignore bool
	}{
		{"cancellation", false},
		{"ignore disconnect", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := startDemo(t, demo.Config{Workers: workers, IgnoreDisconnect: tc.ignore})
			b := startBrowser(t, d.url+"/")
			b.waitText("conn", "live")
			b.eval(fmt.Sprintf(`document.getElementById("seconds").value = "%d";
				document.getElementById("work").value = "upstream"; updateLink();
				document.getElementById("mash-n").value = "%d";
				document.getElementById("mash-patience").value = "300";`, seconds, requests))
			b.click("mash-start")
			b.waitText("mash-status", fmt.Sprintf("done: %d requests, %d abandoned", requests, requests))

			if tc.ignore {
				// The burst is over and the work goes on, for nobody: the
				// chart says so, as /metrics does.
				type reading struct {
					before, after chartNumbers
					metric        float64 // demo_work_in_flight_client_gone, read between the two
				}
				read := func() reading {
					r := reading{before: b.charts()}
					r.metric = d.scrape()["demo_work_in_flight_client_gone"]
					r.after = b.charts()
					if r.after.abandoned == requests {
						t.Fatalf("all the work ended before the chart and /metrics agreed on the work for nobody: %+v", r.after)
					}
					return r
				}
				r := poll(t, "the chart and /metrics agree on the work for nobody", 100*time.Millisecond, read, func(r reading) bool {
					g := r.before.workingGone
					return g > 0 && r.after.workingGone == g && r.metric == float64(g)
				})
				t.Logf("after the burst: %d working for nobody, %d waiting for nobody", r.after.workingGone, r.after.waitingGone)
			}

			n := b.waitCharts("every request abandoned and no work left", func(n chartNumbers) bool {
				return n.abandoned == requests && n.working == 0 && n.waiting == 0
			})
			m := d.scrape()
			t.Logf("charts %+v", n)
			for _, c := range []struct {
				what         string
				page, metric float64
			}{
				{"work running", float64(n.working), m["demo_work_in_flight"]},
				{"work running for nobody", float64(n.workingGone), m["demo_work_in_flight_client_gone"]},
				{"requests waiting", float64(n.waiting), m["demo_work_waiting"]},
				{"requests waiting for nobody", float64(n.waitingGone), m["demo_work_waiting_client_gone"]},
				{"wasted seconds", n.wastedSeconds, m[workSeries("demo_work_seconds_total", demo.WorkUpstream, demo.OutcomeWasted)]},
				{"abandoned requests", float64(n.abandoned), sum(m, "hangup_client_gone_total")},
				{"abandoned requests in the histogram", float64(n.afterGoneCount), sum(m, "hangup_client_gone_total")},
			} {
				if math.Abs(c.page-c.metric) > 1e-6*math.Max(1, c.metric) {
					t.Errorf("%s: the chart says %v, /metrics %v", c.what, c.page, c.metric)
				}
			}
			// Past a second after the client left: work that ran on for nobody.
			late := n.afterGonePast(1)
			if tc.ignore {
				if n.peakGone < 2 {
					t.Errorf("at most %d at once worked or waited for nobody, want the work to pile up", n.peakGone)
				}
				if n.wastedSeconds < requests*seconds/2 || late < requests/2 {
					t.Errorf("%.1f s wasted, %d requests ran on past a second; want most of %d × %d s, most of them", n.wastedSeconds, late, requests, seconds)
				}
			} else if late > 0 {
				t.Errorf("%d requests ran on past a second after their client left", late)
			}
			wasted[tc.ignore] = n.wastedSeconds
			shot := "demo-mash-" + strings.ReplaceAll(tc.name, " ", "-") + ".png"
			b.screenshot(filepath.Join(artifactDir(t), shot))
			if path := os.Getenv("HANGUP_MASH_SCREENSHOT"); path != "" && tc.ignore && !t.Failed() {
				if !filepath.IsAbs(path) {
					path = filepath.Join("..", "..", path)
				}
				b.screenshot(path)
			}
		})
	}
	if ok, ign := wasted[false], wasted[true]; ign <= 10*ok+1 {
		t.Errorf("wasted seconds: %.2f with cancellation, %.2f without: want far more without", ok, ign)
	}
}
