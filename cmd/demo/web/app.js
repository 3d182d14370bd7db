// The demo page: four ways for a browser to abandon requests, the server's
// live log of what happened to the work behind them, and its charts (see
// charts.js).
"use strict";

const $ = (id) => document.getElementById(id);
const rows = new Map(); // request id -> {li, bar, state, lines, progressLine}

function fmtTime(t) {
  const d = new Date(t);
  return d.toLocaleTimeString([], { hour12: false }) + "." + String(d.getMilliseconds()).padStart(3, "0");
}

function fmtMs(ms) {
  if (ms < 1) return ms.toFixed(2) + " ms";
  if (ms < 1000) return ms.toFixed(1) + " ms";
  return (ms / 1000).toFixed(2) + " s";
}

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

// ---- settings -------------------------------------------------------------

function params() {
  return "seconds=" + encodeURIComponent($("seconds").value) + "&work=" + encodeURIComponent($("work").value);
}

function updateLink() {
  $("slow-link").href = "/slow?" + params();
}
$("seconds").addEventListener("input", updateLink);
$("work").addEventListener("change", updateLink);

function applyInfo(info) {
  for (const opt of $("work").options) {
    const ok = info.works.includes(opt.value);
    opt.disabled = !ok;
    if (!ok && opt.value === "postgres") opt.textContent = "postgres — start the demo with --db postgres://…";
  }
  if ($("work").selectedOptions[0].disabled) $("work").value = "sqlite";
  if (!$("seconds").dataset.touched) $("seconds").value = info.seconds;
  $("workers").textContent = info.workers + " workers · uploads read at " + (info.upload_rate / 1048576).toFixed(0) + " MB/s";
  const mode = $("mode");
  if (info.ignore_disconnect) {
    mode.textContent = "cancellation OFF (--ignore-disconnect)";
    mode.className = "pill warn";
    mode.title = "Work runs on context.WithoutCancel: it goes on for clients that left.";
  } else {
    mode.textContent = "cancellation ON";
    mode.className = "pill";
    mode.title = "Work runs on r.Context(), which hangup cancels when the client leaves.";
  }
  updateLink();
}
$("seconds").addEventListener("change", () => { $("seconds").dataset.touched = "1"; });

// ---- the live log ---------------------------------------------------------

function row(e) {
  let r = rows.get(e.id);
  if (r) return r;
  const empty = $("log").querySelector(".empty");
  if (empty) empty.remove();
  const li = el("li", "req running");
  li.id = "req-" + e.id;
  const head = el("div", "req-head");
  head.append(el("span", "req-id", "#" + e.id), el("span", "req-url", (e.method || "") + " " + (e.path || "")));
  const work = el("span", "tag work", "");
  work.hidden = true;
  const state = el("span", "tag state", "running");
  head.append(work, state);
  const bar = el("div", "bar");
  bar.append(el("div"));
  const lines = el("ul", "lines");
  li.append(head, bar, lines);
  $("log").prepend(li);
  r = { li, bar: bar.firstChild, state, work, lines, progressLine: null };
  rows.set(e.id, r);
  return r;
}

function line(r, t, text, cls) {
  const l = el("li", cls);
  l.append(el("time", "", fmtTime(t)), document.createTextNode(text));
  r.lines.append(l);
  r.progressLine = null; // progress after this line goes below it
  return l;
}

function onEvent(e) {
  if (e.kind === "hello") {
    applyInfo(e.info);
    charts.setBounds(e.info.after_gone_bounds);
  }
  if (e.stats) {
    charts.update(e.time, e.stats);
    return;
  }
  if (!e.id) return;
  const r = row(e);
  if (e.work) {
    r.work.textContent = e.work;
    r.work.hidden = false;
  }
  switch (e.kind) {
    case "start":
      line(r, e.time, "received from " + e.client);
      break;
    case "wait":
      line(r, e.time, e.detail);
      break;
    case "work":
      line(r, e.time, "work started: " + e.work + (e.seconds ? ", for " + e.seconds + " s" : ""));
      break;
    case "progress":
      r.bar.style.width = (100 * e.progress).toFixed(1) + "%";
      if (!r.progressLine) {
        const l = line(r, e.time, "");
        r.progressLine = l;
      }
      r.progressLine.lastChild.textContent = "working… " + e.detail;
      r.progressLine.firstChild.textContent = fmtTime(e.time);
      break;
    case "note":
      line(r, e.time, e.detail);
      break;
    case "end":
      end(r, e);
      break;
  }
}

function end(r, e) {
  r.li.classList.remove("running");
  r.li.classList.add(e.outcome);
  r.state.textContent = e.outcome + (e.status ? " · " + e.status : "");
  let text;
  const gone = e.gone ? "client gone (phase " + e.phase + ", reason " + e.reason + ")" : "";
  switch (e.outcome) {
    case "completed":
      r.bar.style.width = "100%";
      text = "completed in " + fmtMs(e.elapsed_ms) + (e.detail ? ": " + e.detail : "");
      break;
    case "cancelled":
      text = (gone || "cancelled") + " → work stopped " + fmtMs(e.stopped_after_ms || 0) + " after the disconnect";
      break;
    case "wasted":
      r.bar.style.width = "100%";
      text = gone + " → work ran on " + fmtMs(e.stopped_after_ms || 0) + " after the disconnect, for nobody: wasted";
      break;
    default:
      if (!r.bar.style.width || r.bar.style.width === "0px") r.bar.style.width = "100%";
      text = e.outcome + (e.status ? " " + e.status : "") + ": " + (e.detail || e.err || "");
      if (gone) text += " — " + gone;
  }
  line(r, e.time, text, "end");
  if (e.err && (e.outcome === "cancelled" || e.outcome === "failed")) line(r, e.time, "work error: " + e.err);
}

$("clear").addEventListener("click", () => {
  rows.clear();
  $("log").replaceChildren(el("li", "empty", "Cleared. Run a test above."));
});

function connect() {
  const es = new EventSource("/events");
  es.onopen = () => {
    $("conn").textContent = "live";
    $("conn").className = "pill";
  };
  es.onmessage = (m) => onEvent(JSON.parse(m.data));
  es.onerror = () => {
    $("conn").textContent = "disconnected — retrying";
    $("conn").className = "pill off";
  };
}
connect();

// ---- test 2: abort a fetch ------------------------------------------------

let fetchCtl = null;
$("fetch-start").addEventListener("click", async () => {
  fetchCtl = new AbortController();
  $("fetch-start").disabled = true;
  $("fetch-abort").disabled = false;
  const status = $("fetch-status");
  status.textContent = "requesting /slow?" + params() + " …";
  const t0 = performance.now();
  try {
    const resp = await fetch("/slow?" + params(), { signal: fetchCtl.signal, cache: "no-store" });
    status.textContent = resp.status + " after " + fmtMs(performance.now() - t0) + ": " + (await resp.text()).trim();
  } catch (err) {
    status.textContent = err.name === "AbortError" ? "aborted by the browser: see the log below" : "error: " + err.message;
  } finally {
    $("fetch-start").disabled = false;
    $("fetch-abort").disabled = true;
  }
});
$("fetch-abort").addEventListener("click", () => fetchCtl && fetchCtl.abort());

// ---- test 3: uploads ------------------------------------------------------

function body() {
  const mb = Math.max(1, Math.min(1024, Number($("upload-size").value) || 64));
  const chunk = new Uint8Array(1 << 20);
  for (let i = 0; i < chunk.length; i += 65536) crypto.getRandomValues(chunk.subarray(i, i + 65536));
  return { blob: new Blob(Array(mb).fill(chunk), { type: "application/octet-stream" }), mb };
}

let uploadCtl = null;
async function upload(auth) {
  const status = $("upload-status");
  const { blob, mb } = body();
  const headers = auth ? { Authorization: "Bearer demo" } : {};
  const ctl = new AbortController();
  if (auth) {
    uploadCtl = ctl;
    $("upload-start").disabled = true;
    $("upload-abort").disabled = false;
  }
  status.textContent = "uploading " + mb + " MB" + (auth ? "" : " without credentials") + " …";
  const t0 = performance.now();
  try {
    const resp = await fetch("/upload", { method: "POST", body: blob, headers, signal: ctl.signal });
    const text = (await resp.text()).trim();
    status.textContent = resp.status + " after " + fmtMs(performance.now() - t0) + ": " + text;
  } catch (err) {
    status.textContent = err.name === "AbortError" ? "upload aborted by the browser: see the log below" : "error: " + err.message;
  } finally {
    if (auth) {
      $("upload-start").disabled = false;
      $("upload-abort").disabled = true;
    }
  }
}
$("upload-start").addEventListener("click", () => upload(true));
$("upload-noauth").addEventListener("click", () => upload(false));
$("upload-abort").addEventListener("click", () => uploadCtl && uploadCtl.abort());

// ---- test 4: mash reload ---------------------------------------------------

// The seed's scenario: a user who waits a little, gives up and reloads,
// again and again. Each request is aborted after the patience, then the
// next one starts.
$("mash-start").addEventListener("click", async () => {
  const clamp = (v, lo, hi, def) => Math.max(lo, Math.min(hi, Number(v) || def));
  const n = clamp($("mash-n").value, 1, 200, 20);
  const patience = clamp($("mash-patience").value, 10, 60000, 300);
  const status = $("mash-status");
  $("mash-start").disabled = true;
  status.dataset.state = "running";
  let abandoned = 0, answered = 0, failed = 0;
  for (let i = 1; i <= n; i++) {
    status.textContent = "request " + i + " of " + n + ": /slow?" + params() + ", abandoned after " + patience + " ms";
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(), patience);
    try {
      const resp = await fetch("/slow?" + params(), { signal: ctl.signal, cache: "no-store" });
      await resp.text();
      answered++;
    } catch (err) {
      if (err.name === "AbortError") abandoned++;
      else failed++;
    } finally {
      clearTimeout(timer);
    }
  }
  status.textContent = "done: " + n + " requests, " + abandoned + " abandoned after " + patience + " ms" +
    (answered ? ", " + answered + " answered in time" : "") + (failed ? ", " + failed + " failed" : "") +
    " — watch the charts below the log";
  Object.assign(status.dataset, { state: "done", abandoned, answered, failed });
  $("mash-start").disabled = false;
});

updateLink();
