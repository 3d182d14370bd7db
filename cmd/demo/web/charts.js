// The page's two charts, drawn on canvases from the server's stats events:
// the work under way over the last minute (and how much of it is for
// clients that already left), and the histogram of how long abandoned
// requests' work ran on after the client left. Each chart also writes its
// numbers as text and data attributes, which the browser test reads.
"use strict";

const charts = (() => {
  const windowMs = 60000; // the load chart's span
  const samples = []; // {t, working, working_gone, waiting, waiting_gone}, oldest first
  let bounds = []; // upper bounds of the histogram's buckets, seconds
  let last = null; // the latest stats

  const css = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();

  // The load chart's layers, bottom to top, with the stats they count.
  const layers = [
    { name: "working for a client", color: "--accent", n: (s) => s.working - s.working_gone },
    { name: "working for nobody", color: "--waste", n: (s) => s.working_gone },
    { name: "waiting for a client", color: "--accent-light", n: (s) => s.waiting - s.waiting_gone },
    { name: "waiting for nobody", color: "--waste-light", n: (s) => s.waiting_gone },
  ];

  // canvas sizes c for the device's pixels and returns its 2D context, in
  // CSS pixels, with its width and height.
  function canvas(c) {
    const dpr = window.devicePixelRatio || 1;
    const w = c.clientWidth, h = c.clientHeight;
    if (c.width !== Math.round(w * dpr) || c.height !== Math.round(h * dpr)) {
      c.width = Math.round(w * dpr);
      c.height = Math.round(h * dpr);
    }
    const g = c.getContext("2d");
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, w, h);
    g.font = "11px " + css("--mono");
    return { g, w, h };
  }

  // gridLines draws a horizontal line at each of values, labelled on the
  // left, and leaves g set for the x axis's labels (centred, grey).
  function gridLines(g, left, right, y, values) {
    g.strokeStyle = css("--line");
    g.fillStyle = css("--gray");
    g.lineWidth = 1;
    g.textAlign = "right";
    g.textBaseline = "middle";
    for (const v of values) {
      g.beginPath();
      g.moveTo(left, Math.round(y(v)) + 0.5);
      g.lineTo(right, Math.round(y(v)) + 0.5);
      g.stroke();
      g.fillText(String(v), left - 4, y(v));
    }
    g.textAlign = "center";
  }

  function fmtSeconds(s) {
    if (s < 1e-3) return Math.round(s * 1e6) + "µs";
    if (s < 1) return +(s * 1e3).toPrecision(3) + "ms";
    if (s < 60) return +s.toPrecision(3) + "s";
    return +(s / 60).toPrecision(3) + "min";
  }

  // ---- the work under way ------------------------------------------------

  function drawLoad() {
    const { g, w, h } = canvas(document.getElementById("load-chart"));
    const left = 28, bottom = h - 16, top = 6, right = w - 4;
    const now = samples.length ? samples[samples.length - 1].t : Date.now();
    let peak = 4;
    for (const s of samples) peak = Math.max(peak, s.working + s.waiting);
    const ymax = peak <= 10 ? peak : Math.ceil(peak / 5) * 5;
    const x = (t) => right - ((now - t) / windowMs) * (right - left);
    const y = (v) => bottom - (v / ymax) * (bottom - top);

    gridLines(g, left, right, y, [0, Math.round(ymax / 2), ymax]);
    g.textBaseline = "top";
    for (const ago of [60, 45, 30, 15, 0]) {
      g.textAlign = ago === 60 ? "left" : ago === 0 ? "right" : "center"; // the ends inside the canvas
      g.fillText(ago ? "-" + ago + "s" : "now", x(now - ago * 1000), bottom + 3);
    }

    // Stacked steps: each sample holds until the next.
    if (samples.length) {
      let base = samples.map(() => 0);
      for (const layer of layers) {
        const tops = samples.map((s, i) => base[i] + Math.max(0, layer.n(s)));
        g.beginPath();
        samples.forEach((s, i) => {
          const x0 = Math.max(left, x(s.t));
          const x1 = i + 1 < samples.length ? x(samples[i + 1].t) : right;
          if (i === 0) g.moveTo(x0, y(tops[i]));
          g.lineTo(x0, y(tops[i]));
          g.lineTo(x1, y(tops[i]));
        });
        for (let i = samples.length - 1; i >= 0; i--) {
          const x0 = Math.max(left, x(samples[i].t));
          const x1 = i + 1 < samples.length ? x(samples[i + 1].t) : right;
          g.lineTo(x1, y(base[i]));
          g.lineTo(x0, y(base[i]));
        }
        g.closePath();
        g.fillStyle = css(layer.color);
        g.fill();
        base = tops;
      }
    }
  }

  function summarizeLoad(s) {
    const el = document.getElementById("load-summary");
    let peakGone = 0;
    for (const x of samples) peakGone = Math.max(peakGone, x.working_gone + x.waiting_gone);
    Object.assign(el.dataset, {
      working: s.working,
      workingGone: s.working_gone,
      waiting: s.waiting,
      waitingGone: s.waiting_gone,
      peakGone,
      wastedSeconds: s.wasted_seconds,
      abandoned: s.abandoned,
    });
    el.textContent =
      "now: " + s.working + " working (" + s.working_gone + " for nobody), " +
      s.waiting + " waiting (" + s.waiting_gone + " for nobody) · " +
      "most for nobody in the last minute: " + peakGone + " · " +
      "work done to its end for nobody: " + s.wasted_seconds.toFixed(1) + " s";
    layers.forEach((layer, i) => {
      document.getElementById("load-legend-" + i).textContent = layer.name + " " + Math.max(0, layer.n(s));
    });
  }

  // ---- the work after the client left -------------------------------------

  function drawHistogram() {
    const { g, w, h } = canvas(document.getElementById("hist-chart"));
    const counts = (last && last.after_gone) || [];
    const n = bounds.length + 1;
    const left = 28, bottom = h - 16, top = 6, right = w - 4;
    const bw = (right - left) / n;
    const cmax = Math.max(1, ...counts);
    const y = (v) => bottom - (v / cmax) * (bottom - top);

    gridLines(g, left, right, y, [0, cmax]);
    g.textBaseline = "top";
    for (let i = 0; i < n; i++) {
      const over = i === bounds.length;
      // Amber past a second: work that ran on for nobody; red below, the
      // colour of a cancelled request in the log.
      g.fillStyle = css(over || bounds[i] > 1 ? "--waste" : "--gone");
      const c = counts[i] || 0;
      if (c > 0) g.fillRect(left + i * bw + 1, y(c), bw - 2, bottom - y(c));
      const label = over ? ">" + fmtSeconds(bounds[bounds.length - 1]) : fmtSeconds(bounds[i]);
      if (over || [0, 4, 7, 10, 13, 16, 18].includes(i)) {
        g.fillStyle = css("--gray");
        g.fillText(label, left + (i + 0.5) * bw, bottom + 3);
      }
    }
  }

  function summarizeHistogram(s) {
    const el = document.getElementById("hist-summary");
    const counts = s.after_gone || [];
    const total = counts.reduce((a, b) => a + b, 0);
    Object.assign(el.dataset, { bounds: bounds.join(","), counts: counts.join(","), count: total, sum: s.after_gone_seconds });
    if (total === 0) {
      el.textContent = "no abandoned request yet";
      return;
    }
    let acc = 0, median = "";
    for (let i = 0; i < counts.length; i++) {
      acc += counts[i];
      if (acc * 2 >= total) {
        median = i < bounds.length ? "≤ " + fmtSeconds(bounds[i]) : "> " + fmtSeconds(bounds[bounds.length - 1]);
        break;
      }
    }
    el.textContent =
      total + " abandoned · median " + median + " · " +
      fmtSeconds(s.after_gone_seconds) + " of work after the clients left, in all";
  }

  // ---- entry points -------------------------------------------------------

  function redraw() {
    drawLoad();
    drawHistogram();
  }
  window.addEventListener("resize", redraw);

  return {
    // setBounds takes the histogram's bucket bounds from the hello event.
    setBounds(b) {
      bounds = b || [];
      redraw();
    },
    // update takes a stats event's numbers, at server time t.
    update(t, s) {
      last = s;
      const { working, working_gone, waiting, waiting_gone } = s;
      samples.push({ t: Date.parse(t), working, working_gone, waiting, waiting_gone });
      // Keep one sample older than the window: it holds until the next.
      while (samples.length > 1 && samples[1].t < samples[samples.length - 1].t - windowMs) samples.shift();
      summarizeLoad(s);
      summarizeHistogram(s);
      redraw();
    },
  };
})();
