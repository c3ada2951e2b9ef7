// The workspace of an experiment page: a line chart for every metric key of the runs the table
// shows, in sections by key prefix (train/, val/, system/...), searchable by name or regular
// expression. Which runs are drawn follows the table: its filter and page (the server renders
// them), the runs ticked in it, an eye toggle per run and "show the first N". Panels load as they
// come near the screen, a batch of panels in one request, each drawn first as a light overview
// (overview_chart.js); plotly loads later, for the panels the pointer or the focus comes to.
"use strict";

(function () {
  const root = document.querySelector("[data-workspace]");
  const form = document.getElementById("runs-form");
  if (!root || !form) { return; }
  const experiment = root.dataset.experiment;
  const store = "runstone.workspace." + experiment;
  const FIRST_BATCH = 3;  // panels of the first history request: the first charts come quickly
  const BATCH = 12;  // panels per history request after it
  const IN_FLIGHT = 2;  // history requests at once once the first is in: the server reads one while the browser draws
  const X_AXES = { step: "step", relative: "seconds since the run's first point", time: "wall time" };
  const plotConfig = { responsive: true, displaylogo: false, modeBarButtonsToRemove: ["select2d", "lasso2d"] };
  const sectionsElement = root.querySelector("[data-sections]");
  const summary = root.querySelector("[data-workspace-summary]");
  const legend = root.querySelector("[data-workspace-legend]");
  const controls = root.querySelector("[data-workspace-controls]");
  root.querySelectorAll("[data-workspace-controls]").forEach(function (c) { c.hidden = false; });
  const searchInput = root.querySelector("[data-panel-search]");
  const searchError = root.querySelector("[data-panel-search-error]");
  const groupSummary = root.querySelector("[data-group-summary]");
  const panels = {};  // key -> panel
  const visible = new Set();  // panels near the screen
  const queue = [];
  let runs = [];  // [{id, name}] drawn, in table order
  let groups = null;  // when grouped: [{label, color, run_ids, ...}] from the server
  let runsFor = -1;  // the generation whose runs are known
  let firstBatchDone = -1;  // the generation whose first history request went out
  let firstAnswered = -1;  // the generation whose first history request was answered
  let inFlight = 0;  // history requests of this generation waiting for their answer
  // A panel resized (its corner, or Full width) redraws at its new size.
  const resizer = "ResizeObserver" in window ? new ResizeObserver(function (entries) {
    entries.forEach(function (entry) {
      const panel = panels[entry.target.dataset.key];
      if (!panel) { return; }
      const size = [panel.element.clientWidth - 14, Math.max(200, panel.element.clientHeight - 36)];
      const changed = !panel.size || panel.size[0] !== size[0] || panel.size[1] !== size[1];
      panel.size = size;
      if (!changed || panel.element.dataset.state !== "drawn") { return; }
      if (!panel.live) { draw(panel); } else if (window.Plotly) { window.Plotly.relayout(panel.plot, { width: size[0], height: size[1] }); }
    });
  }) : null;
  let generation = 0;
  let observer = null;
  let plotlyReady = null;
  let flushing = false;
  let drawing = Promise.resolve();  // panels draw one after another, the page free to paint between them

  // ---- settings, kept in this browser per experiment
  function loadSettings() {
    const defaults = { first: 10, hidden: [], x: "step", smoothing: "none", amount: 0.6, log: false, robust: false, folded: [], search: "", group: [], line: "mean", band: "minmax", panels: {} };
    try { return Object.assign(defaults, JSON.parse(window.localStorage.getItem(store) || "{}")); } catch (e) { return defaults; }
  }
  const settings = loadSettings();
  function saveSettings() {
    try { window.localStorage.setItem(store, JSON.stringify(settings)); } catch (e) { /* private mode */ }
  }

  // ---- saved views: a view's settings win over this browser's; the last view used opens again
  // when the experiment page is opened bare.
  const lastViewKey = "runstone.last-view." + experiment;
  const query = new URLSearchParams(window.location.search);
  if (root.dataset.viewId) {
    try { Object.assign(settings, JSON.parse(root.dataset.viewSettings || "{}")); } catch (e) { /* a view of another version */ }
    saveSettings();
    try { window.localStorage.setItem(lastViewKey, root.dataset.viewId); } catch (e) { /* private mode */ }
  } else if (query.get("saved_view") === "none") {
    window.localStorage.removeItem(lastViewKey);
  } else if (!window.location.search) {
    const last = window.localStorage.getItem(lastViewKey);
    if (last) {
      window.localStorage.removeItem(lastViewKey);  // set again once the view opens: a deleted view is no trap
      window.location.replace("/ui/experiments/" + encodeURIComponent(experiment) + "/views/" + encodeURIComponent(last));
      return;
    }
  }
  document.querySelectorAll("form[data-view-form]").forEach(function (viewForm) {
    viewForm.addEventListener("submit", function () {
      viewForm.querySelector("input[name=workspace]").value = JSON.stringify(settings);
    });
  });

  function color(id) { return window.RunColors ? window.RunColors.color(id) : "#1f77b4"; }

  // ---- the runs: rows of the table, ticked ones if any, minus the hidden, the first N
  function tableRuns() {
    return Array.from(form.querySelectorAll("tr[data-run]")).map(function (row) {
      const link = row.querySelector('td.name a[href^="/ui/runs/"]');
      const box = row.querySelector("input[name=run]");
      return { id: row.dataset.run, name: link ? link.textContent.trim() : row.dataset.run, row: row, ticked: Boolean(box && box.checked) };
    });
  }

  // Grouped, each group's runs (the hidden ones left out) share the 100 runs a request may draw.
  function groupedRuns() {
    const hidden = new Set(settings.hidden);
    const per = Math.max(1, Math.floor(100 / Math.max(1, groups.length)));
    const out = [];
    groups.forEach(function (g) {
      g.drawn = [];
      g.run_ids.forEach(function (id, i) {
        if (!hidden.has(id) && g.drawn.length < per) { g.drawn.push(id); out.push({ id: id, name: g.run_names[i] }); }
      });
    });
    return out;
  }

  function drawnRuns() {
    if (groups) { return groupedRuns(); }
    const all = tableRuns();
    const ticked = all.filter(function (r) { return r.ticked; });
    const hidden = new Set(settings.hidden);
    return (ticked.length ? ticked : all).filter(function (r) { return !hidden.has(r.id); }).slice(0, settings.first);
  }

  // An eye toggle and a colour (pinnable) beside each run's name in the table.
  function decorateRows() {
    const hidden = new Set(settings.hidden);
    tableRuns().forEach(function (r) {
      const cell = r.row.querySelector("td.name");
      if (!cell || cell.querySelector("[data-eye]")) {
        if (cell) { markRow(r.row, hidden.has(r.id)); }
        return;
      }
      const eye = document.createElement("button");
      eye.type = "button";
      eye.className = "eye";
      eye.dataset.eye = r.id;
      eye.textContent = "◉";
      const swatch = document.createElement("input");
      swatch.type = "color";
      swatch.className = "run-swatch";
      swatch.dataset.runColor = r.id;
      swatch.value = color(r.id);
      swatch.title = "Colour of " + r.name + " in every chart (pick one to pin it)";
      swatch.setAttribute("aria-label", "Colour of " + r.name);
      swatch.addEventListener("change", function () { window.RunColors.pin(r.id, swatch.value); });
      eye.addEventListener("click", function () { toggle(r.id); });
      cell.insertBefore(swatch, cell.firstChild);
      cell.insertBefore(eye, cell.firstChild);
      markRow(r.row, hidden.has(r.id));
    });
  }

  function markRow(row, hidden) {
    const eye = row.querySelector("[data-eye]");
    const name = (row.querySelector('td.name a[href^="/ui/runs/"]') || {}).textContent || row.dataset.run;
    row.classList.toggle("run-hidden", hidden);
    eye.setAttribute("aria-pressed", hidden ? "false" : "true");
    eye.setAttribute("aria-label", (hidden ? "Show " : "Hide ") + name.trim() + (hidden ? " in the charts" : " from the charts"));
    eye.title = hidden ? "Hidden from the charts: click to show" : "Drawn in the charts: click to hide";
  }

  function toggle(id) {
    const at = settings.hidden.indexOf(id);
    if (at >= 0) { settings.hidden.splice(at, 1); } else { settings.hidden.push(id); }
    saveSettings();
    decorateRows();
    refresh();
  }

  // ---- data
  function fetchJSON(url) {
    return fetch(url, { credentials: "same-origin" }).then(function (response) {
      return response.json().then(function (body) {
        if (!response.ok) { throw new Error((body.error && body.error.message) || response.statusText); }
        return body;
      });
    });
  }

  // About 4,000 points a panel: 400 a run for 10 runs, 40 (each stretch's extremes) for 100.
  function maxPoints() { return Math.max(40, Math.min(500, Math.floor(4000 / Math.max(1, runs.length)))); }

  function gridUrl(keys, range) {
    const query = new URLSearchParams({ max_points: String(maxPoints()) });
    runs.forEach(function (r) { query.append("run", r.id); });
    keys.forEach(function (k) { query.append("key", k); });
    if (range) { query.set("start_step", String(range[0])); query.set("end_step", String(range[1])); }
    return "/ui/data/history-grid?" + query.toString();
  }

  function loadPlotly() {
    if (!plotlyReady) {
      plotlyReady = window.Plotly ? Promise.resolve() : new Promise(function (resolve, reject) {
        const script = document.createElement("script");
        script.src = root.dataset.plotly;
        script.onload = resolve;
        script.onerror = function () { reject(new Error("could not load plotly.js")); };
        document.head.appendChild(script);
      });
    }
    return plotlyReady;
  }

  function enqueue(panel) {
    if (panel.element.classList.contains("collapsed")) { return; }  // a collapsed panel loads when opened
    if (runsFor !== generation || panel.loaded === generation || panel.queued === generation || panel.element.hidden) { return; }
    panel.queued = generation;
    queue.push(panel);
    schedule();
  }

  function schedule() {
    if (!flushing && queue.length) {
      flushing = true;
      window.setTimeout(flush, 0);
    }
  }

  // One request for every batch of panels waiting to be drawn: the first one alone and small, so
  // that the first charts come early; then up to IN_FLIGHT at once.
  function flush() {
    flushing = false;
    const first = firstBatchDone !== generation;
    if (!first && (firstAnswered !== generation || inFlight >= IN_FLIGHT)) { return; }  // sent again when one is answered
    firstBatchDone = generation;
    const batch = queue.splice(0, first ? FIRST_BATCH : BATCH).filter(function (p) { return p.queued === generation && runsFor === generation && !p.element.hidden; });
    if (!batch.length) {
      if (first) { firstBatchDone = -1; }
      schedule();
      return;
    }
    const wanted = generation;
    batch.forEach(function (p) { p.element.dataset.state = "loading"; });
    const xKey = xMetric();
    const keys = batch.map(function (p) { return p.key; });
    if (xKey && keys.indexOf(xKey) < 0) { keys.push(xKey); }
    const request = runs.length ? fetchJSON(gridUrl(keys, null)) : Promise.resolve({ keys: {} });
    inFlight += 1;
    // The next requests go out as soon as this one's answer is in, so that the server reads the
    // next batches while the browser draws this one.
    const answered = function () {
      if (wanted !== generation) { return; }
      inFlight -= 1;
      firstAnswered = wanted;
      schedule();
    };
    if (!first) { schedule(); }
    request.then(function (answer) {
      answered();
      if (wanted !== generation) { return; }
      const found = answer.keys;
      batch.forEach(function (p) {
        p.loaded = wanted;
        p.overview = found[p.key] || {};
        p.xoverview = p.xdata = xKey ? found[xKey] || {} : null;
        p.data = p.overview;
        p.zoom = null;
      });
      measure(batch);
      return drawInTurn(batch, wanted);
    }, function (error) {
      answered();
      batch.forEach(function (p) { fail(p, error); });
    }).then(function () {
      if (first && wanted === generation) { firstDrawn(); }
    });
  }

  // The panels on screen (or near it) queued at once, in page order, without waiting for the
  // observer's first report (a frame later): the first request goes out before plotly.js has
  // even loaded.
  function queueOnScreen() {
    if (!observer) { return; }
    const below = window.innerHeight + 400;
    const near = Array.from(sectionsElement.querySelectorAll("[data-panel]")).filter(function (element) {
      const box = element.getBoundingClientRect();
      return box.height > 0 && box.top < below && box.bottom > -400;
    });
    if (!near.length) { return; }
    near.forEach(function (element) {
      const panel = panels[element.dataset.key];
      if (panel) { visible.add(panel); enqueue(panel); }
    });
    if (firstBatchDone !== generation) { flush(); }  // now rather than a task later
  }

  // For workspace_media.js, which lists the media once the first charts are up.
  function firstDrawn() {
    if (!root.dataset.firstDrawn) {
      root.dataset.firstDrawn = "true";
      root.dispatchEvent(new CustomEvent("workspace:drawn"));
    }
  }

  // Each panel of a batch drawn in its own task, the panels of earlier batches first: the first
  // chart shows without waiting for the others, and answers that come in meanwhile are read.
  function drawInTurn(batch, wanted) {
    batch.forEach(function (p) {
      drawing = drawing.then(function () {
        if (wanted !== generation || p.loaded !== wanted) { return null; }
        return draw(p).catch(function (error) { fail(p, error); }).then(p.live ? nextTask : nextSlice);
      });
    });
    drawing.then(function () {
      if (wanted === generation && !queue.length && !inFlight && !plotlyReady) {
        (window.requestIdleCallback || window.setTimeout)(function () { loadPlotly(); }, { timeout: 3000 });
      }
    });
    return drawing;
  }

  function nextTask() {
    return new Promise(function (resolve) { window.setTimeout(resolve, 0); }).then(function () { sliceStart = performance.now(); });
  }

  // Overviews take a few milliseconds each: several are drawn in one task (about 10 ms of them),
  // rather than one a task and a frame of the whole page between each.
  let sliceStart = 0;
  function nextSlice() { return performance.now() - sliceStart < 10 ? null : nextTask(); }

  // The sizes of a batch's panels, read together before any of them is drawn (one layout of the
  // page rather than one per panel).
  function measure(batch) {
    batch.forEach(function (p) { p.size = [p.element.clientWidth - 14, Math.max(200, p.element.clientHeight - 36)]; });
  }

  // ---- drawing: with the panel's own settings where it has any, else the workspace's
  let cur = settings;
  function use(panel) {
    cur = Object.assign({}, settings, (settings.panels || {})[panel.key] || {});
    return cur;
  }
  function ema(values, weight) {
    let last = 0;
    let count = 0;
    return values.map(function (v) {
      if (v === null || !isFinite(v)) { return null; }
      last = last * weight + (1 - weight) * v;
      count += 1;
      return last / (1 - Math.pow(weight, count));
    });
  }

  function runningMean(values, window) {
    const out = [];
    let sum = 0;
    const kept = [];
    values.forEach(function (v) {
      if (v === null || !isFinite(v)) { out.push(null); return; }
      kept.push(v);
      sum += v;
      if (kept.length > window) { sum -= kept.shift(); }
      out.push(sum / kept.length);
    });
    return out;
  }

  function smoothed(values) {
    if (cur.smoothing === "ema" && cur.amount > 0) { return ema(values, cur.amount); }
    if (cur.smoothing === "mean" && cur.amount > 0) { return runningMean(values, Math.max(2, Math.round(cur.amount * 100))); }
    return values;
  }

  function xMetric() { return settings.x.indexOf("metric:") === 0 ? settings.x.slice(7) : null; }

  // Another metric as the x axis: each point takes that metric's value at the same step (or the
  // last step before it that it was logged at, as downsampled histories keep different steps).
  function metricX(points, id, panel) {
    const other = (panel.xdata || {})[id];
    if (!other || !other.steps.length) { return points.steps.map(function () { return null; }); }
    return points.steps.map(function (step) {
      let lo = 0;
      let hi = other.steps.length - 1;
      if (step < other.steps[0]) { return null; }
      while (lo < hi) {
        const mid = (lo + hi + 1) >> 1;
        if (other.steps[mid] <= step) { lo = mid; } else { hi = mid - 1; }
      }
      return other.values[lo];
    });
  }

  function xValues(points, id, panel) {
    if (cur.x.indexOf("metric:") === 0) { return metricX(points, id, panel); }
    if (cur.x === "time") { return points.timestamps.map(function (t) { return new Date(t); }); }
    if (cur.x === "relative") {
      const t0 = points.timestamps.length ? points.timestamps[0] : 0;
      return points.timestamps.map(function (t) { return (t - t0) / 1000; });
    }
    return points.steps;
  }

  function asNumber(v) { return v instanceof Date ? v.getTime() : v; }

  // One group's line (mean or median of its runs) and band (min-max or one standard deviation),
  // over buckets of the x axis, so that runs logged at different steps still line up.
  function aggregateGroup(panel, group) {
    const ids = group.drawn.filter(function (id) { return panel.data[id] && panel.data[id].steps.length; });
    const series = ids.map(function (id) { return panel.data[id]; });
    if (!series.length) { return null; }
    const xs = series.map(function (p, i) { return xValues(p, ids[i], panel).map(asNumber); });
    let lo = Infinity;
    let hi = -Infinity;
    xs.forEach(function (x) { x.forEach(function (v) { if (v !== null && isFinite(v)) { lo = Math.min(lo, v); hi = Math.max(hi, v); } }); });
    if (lo > hi) { return null; }
    const exact = cur.x === "step" && hi - lo < 200;  // one bucket per step
    const buckets = exact ? hi - lo + 1 : 200;
    const width = exact ? 1 : (hi - lo) / buckets || 1;
    const cells = [];
    for (let b = 0; b < buckets; b += 1) { cells.push([]); }
    series.forEach(function (points, i) {
      const values = smoothed(points.values);
      const sums = {};
      xs[i].forEach(function (x, j) {
        const v = values[j];
        if (v === null || !isFinite(v) || x === null || !isFinite(x)) { return; }
        const b = Math.min(buckets - 1, Math.floor((x - lo) / width));
        const cell = sums[b] || (sums[b] = [0, 0]);
        cell[0] += v;
        cell[1] += 1;
      });
      Object.keys(sums).forEach(function (b) { cells[b].push(sums[b][0] / sums[b][1]); });
    });
    const out = { x: [], line: [], lower: [], upper: [] };
    cells.forEach(function (values, b) {
      if (!values.length) { return; }
      values.sort(function (a, c) { return a - c; });
      const mean = values.reduce(function (a, c) { return a + c; }, 0) / values.length;
      const mid = Math.floor(values.length / 2);
      const median = values.length % 2 ? values[mid] : (values[mid - 1] + values[mid]) / 2;
      const std = Math.sqrt(values.reduce(function (a, c) { return a + (c - mean) * (c - mean); }, 0) / values.length);
      const center = lo + (b + 0.5) * width;
      out.x.push(cur.x === "time" ? new Date(center) : (exact ? lo + b : center));
      out.line.push(settings.line === "median" ? median : mean);
      out.lower.push(settings.band === "std" ? mean - std : values[0]);
      out.upper.push(settings.band === "std" ? mean + std : values[values.length - 1]);
    });
    return out;
  }

  function fade(hex, alpha) {
    const n = parseInt(hex.slice(1), 16);
    return "rgba(" + (n >> 16 & 255) + "," + (n >> 8 & 255) + "," + (n & 255) + "," + alpha + ")";
  }

  function groupTraces(panel) {
    const out = [];
    groups.forEach(function (g) {
      const agg = aggregateGroup(panel, g);
      if (!agg) { return; }
      const label = g.label.replace(/</g, "&lt;");
      if (settings.band !== "none") {
        out.push({ x: agg.x, y: agg.lower, type: "scatter", mode: "lines", line: { width: 0, color: g.color }, hoverinfo: "skip",
          showlegend: false, band: true });
        out.push({ x: agg.x, y: agg.upper, type: "scatter", mode: "lines", line: { width: 0, color: g.color }, fill: "tonexty",
          fillcolor: fade(g.color, 0.2), hoverinfo: "skip", showlegend: false, band: true });
      }
      out.push({ x: agg.x, y: agg.line, type: "scatter", mode: agg.x.length > 1 ? "lines" : "markers", name: g.label, meta: "group:" + g.label,
        line: { color: g.color, width: 2 }, marker: { color: g.color, size: 6 },
        hovertemplate: "%{y}<extra>" + label + " (" + g.drawn.length + " runs)</extra>", showlegend: false });
    });
    return out;
  }

  function traces(panel) {
    if (groups) { return groupTraces(panel); }
    const out = [];
    const smoothing = cur.smoothing !== "none" && cur.amount > 0;
    runs.forEach(function (r) {
      const points = panel.data[r.id];
      if (!points || !points.steps.length) { return; }
      const x = xValues(points, r.id, panel);
      const c = color(r.id);
      const label = r.name.replace(/</g, "&lt;");
      if (smoothing) {
        out.push({ x: x, y: points.values, type: "scatter", mode: "lines", name: r.name + " (raw)", line: { color: c, width: 1 },
          opacity: 0.2, hoverinfo: "skip", showlegend: false, meta: r.id });
      }
      out.push({ x: x, y: smoothed(points.values), type: "scatter", mode: points.steps.length > 1 ? "lines" : "markers",
        name: r.name, meta: r.id, line: { color: c, width: 1.5 }, marker: { color: c, size: 6 }, connectgaps: false,
        hovertemplate: "%{y}<extra>" + label + "</extra>", showlegend: false });
    });
    return runs.length > MERGE_ABOVE ? merged(out) : out;
  }

  // Many runs: one line trace per colour, the runs apart by gaps, so that plotly draws a few
  // traces instead of a hundred (runs of one colour looked alike anyway); hover names the run.
  const MERGE_ABOVE = 20;
  function merged(traces) {
    const byKey = {};
    const order = [];
    traces.forEach(function (t) {
      const raw = t.hoverinfo === "skip";
      const key = (raw ? "raw:" : "") + t.line.color;
      let into = byKey[key];
      if (!into) {
        into = byKey[key] = Object.assign({}, t, { x: [], y: [], text: [], meta: [], name: raw ? "raw" : "runs" });
        if (!raw) { into.hovertemplate = "%{y}<extra>%{text}</extra>"; into.mode = "lines"; }
        order.push(key);
      }
      into.x.push.apply(into.x, t.x);
      into.y.push.apply(into.y, t.y);
      t.x.forEach(function () { into.text.push(t.name.replace(/</g, "&lt;")); });
      into.x.push(null);
      into.y.push(null);
      into.text.push("");
      if (!raw) { into.meta.push(t.meta); }
    });
    return order.map(function (key) {
      const t = byKey[key];
      t.meta = t.meta.join(",");
      return t;
    });
  }

  // A y range that leaves out the few most extreme points (the 1st and 99th percentiles, padded).
  function robustRange(data) {
    const values = [];
    data.forEach(function (t) {
      if (t.hoverinfo === "skip" && !t.band) { return; }
      t.y.forEach(function (v) { if (v !== null && isFinite(v) && (!cur.log || v > 0)) { values.push(cur.log ? Math.log10(v) : v); } });
    });
    if (values.length < 10) { return null; }
    values.sort(function (a, b) { return a - b; });
    const lo = values[Math.floor(values.length * 0.01)];
    const hi = values[Math.ceil(values.length * 0.99) - 1];
    const pad = (hi - lo) * 0.05 || Math.abs(hi) * 0.05 || 1;
    return [lo - pad, hi + pad];
  }

  function layout(panel, data) {
    const xaxis = { title: { text: X_AXES[cur.x] || cur.x.slice("metric:".length) }, type: cur.x === "time" ? "date" : "linear" };
    if (panel.zoom) { xaxis.range = panel.zoom.slice(); xaxis.autorange = false; }
    const yaxis = { type: cur.log ? "log" : "linear", autorange: true };
    const range = cur.robust ? robustRange(data) : null;
    if (range) { yaxis.range = range; yaxis.autorange = false; }
    const colors = theme();
    xaxis.gridcolor = yaxis.gridcolor = colors.line;
    xaxis.zerolinecolor = yaxis.zerolinecolor = colors.line;
    // The size measured before the batch was drawn: plotly need not measure the page again.
    const size = panel.size || [panel.element.clientWidth - 14, Math.max(200, panel.element.clientHeight - 36)];
    return { margin: { l: 50, r: 10, t: 8, b: 38 }, width: size[0], height: size[1], xaxis: xaxis, yaxis: yaxis, hovermode: "closest", showlegend: false,
      uirevision: cur.x + cur.log + cur.robust, paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)",
      font: { color: colors.fg } };
  }

  // The page's colours (dark mode follows the system): text and grid lines from its CSS variables,
  // read once rather than for every panel, and again when the system setting changes.
  let themeColors = null;
  function theme() {
    if (!themeColors) {
      const style = getComputedStyle(document.documentElement);
      themeColors = { line: style.getPropertyValue("--line").trim() || "#d8dde3", fg: style.getPropertyValue("--fg").trim() || "#1b1f24" };
    }
    return themeColors;
  }
  if (window.matchMedia) {
    const scheme = window.matchMedia("(prefers-color-scheme: dark)");
    if (scheme.addEventListener) { scheme.addEventListener("change", function () { themeColors = null; redrawAll(); }); }
  }

  // A panel is drawn first as a light overview on a canvas (a few milliseconds where plotly takes
  // tens, so that a workspace of 50 panels of 100 runs is up at once); the pointer or the focus
  // coming to it builds the interactive plotly chart (hover values, zoom), which it keeps.
  function draw(panel) {
    use(panel);
    const data = traces(panel);
    const shape = layout(panel, data);
    panel.element.dataset.state = "drawing";
    const error = panel.element.querySelector(".chart-error");
    if (error) { error.remove(); }
    const drawn = function () {
      const lines = data.filter(function (t) { return t.hoverinfo !== "skip"; });
      panel.element.dataset.bands = String(data.filter(function (t) { return t.fill; }).length);
      panel.element.dataset.state = "drawn";
      panel.element.dataset.chart = panel.live ? "interactive" : "overview";
      panel.element.dataset.runs = lines.map(function (t) { return t.meta; }).join(",");
      panel.element.dataset.points = String(lines.reduce(function (n, t) { return n + t.x.filter(function (v) { return v !== null; }).length; }, 0));
      if (!panel.element.dataset.drawnAt) { panel.element.dataset.drawnAt = String(Math.round(performance.now())); }
    };
    if (!panel.live) {
      window.OverviewChart.draw(panel.plot, data, shape);
      drawn();
      return Promise.resolve();
    }
    return loadPlotly().then(function () {
      const overview = panel.plot.querySelector("canvas[data-overview]");
      if (overview) { overview.remove(); }
      return window.Plotly.react(panel.plot, data, shape, plotConfig);
    }).then(function () {
      drawn();
      if (!panel.wired) {
        panel.wired = true;
        panel.plot.on("plotly_relayout", function (event) { onRelayout(panel, event); });
      }
    });
  }

  // The pointer or the focus came to a panel: its interactive chart replaces the overview.
  function makeLive(panel) {
    if (panel.live) { return; }
    panel.live = true;
    if (panel.loaded === generation && panel.element.dataset.state === "drawn") { draw(panel).catch(function (error) { fail(panel, error); }); }
  }

  function fail(panel, error) {
    panel.element.dataset.state = "error";
    let message = panel.element.querySelector(".chart-error");
    if (!message) {
      message = document.createElement("p");
      message.className = "chart-error";
      message.setAttribute("role", "alert");
      panel.element.appendChild(message);
    }
    message.textContent = "Could not load this chart: " + error.message;
  }

  // Zooming fetches the zoomed step range again at full detail; double-click goes back.
  function onRelayout(panel, event) {
    if (event["xaxis.autorange"]) {
      if (panel.zoom) { panel.zoom = null; panel.data = panel.overview; panel.xdata = panel.xoverview; draw(panel); }
      return;
    }
    const range = event["xaxis.range"] || (event["xaxis.range[0]"] !== undefined ? [event["xaxis.range[0]"], event["xaxis.range[1]"]] : null);
    if (!range) { return; }
    panel.zoom = range;
    const steps = stepRange(panel, range);
    if (!steps) { return; }
    const wanted = steps.join(":");
    panel.pending = wanted;
    panel.element.dataset.state = "zooming";
    const xKey = xMetric();
    fetchJSON(gridUrl(xKey && xKey !== panel.key ? [panel.key, xKey] : [panel.key], steps)).then(function (body) {
      if (panel.pending !== wanted) { return; }
      panel.data = body.keys[panel.key] || {};
      if (xKey) { panel.xdata = body.keys[xKey] || {}; }
      panel.element.dataset.zoomSteps = wanted;
      return draw(panel);
    }).catch(function (error) { fail(panel, error); });
  }

  function stepRange(panel, range) {
    use(panel);
    const toNumber = function (v) { return cur.x === "time" ? new Date(String(v).replace(" ", "T") + "Z").getTime() : Number(v); };
    const start = toNumber(range[0]);
    const end = toNumber(range[1]);
    if (cur.x === "step") { return [Math.floor(start), Math.ceil(end)]; }
    let lo = Infinity;
    let hi = -Infinity;
    Object.keys(panel.overview).forEach(function (id) {
      const points = panel.overview[id];
      const x = xValues(points, id, panel).map(function (v) { return v instanceof Date ? v.getTime() : v; });
      x.forEach(function (v, i) { if (v >= start && v <= end) { lo = Math.min(lo, points.steps[i]); hi = Math.max(hi, points.steps[i]); } });
    });
    return lo <= hi ? [lo, hi] : null;
  }

  function redrawAll() {
    Object.values(panels).forEach(function (p) {
      if (p.loaded === generation && p.element.dataset.state === "drawn") { draw(p); }
    });
  }

  // ---- panels and sections
  function sectionOf(key) {
    const at = key.indexOf("/");
    return at > 0 ? key.slice(0, at) : "";
  }

  function makePanel(key) {
    const element = document.createElement("figure");
    element.className = "panel";
    element.dataset.panel = "";
    element.dataset.key = key;
    element.dataset.state = "waiting";
    const caption = document.createElement("figcaption");
    const title = document.createElement("span");
    title.textContent = key;
    caption.append(title, panelSettings(key));
    const plot = document.createElement("div");
    plot.className = "plot";
    element.append(caption, plot);
    element.classList.toggle("wide", Boolean(((settings.panels || {})[key] || {}).wide));
    element.classList.toggle("collapsed", Boolean(((settings.panels || {})[key] || {}).collapsed));
    if (resizer) { resizer.observe(element); }
    const panel = { key: key, element: element, plot: plot, loaded: -1, queued: -1, data: {}, overview: {}, zoom: null, wired: false, live: false };
    ["pointerenter", "focusin", "touchstart"].forEach(function (name) {
      element.addEventListener(name, function () { makeLive(panel); }, { passive: true });
    });
    return panel;
  }

  // A panel's own x axis, smoothing, log scale and outliers, over the workspace's (kept with its
  // settings, so a saved view keeps them too).
  const CHOICES = {
    x: [["", "X axis: as the workspace"], ["step", "Step"], ["relative", "Relative time"], ["time", "Wall time"]],
    smoothing: [["", "Smoothing: as the workspace"], ["none", "No smoothing"], ["ema", "Exponential moving average"], ["mean", "Running mean"]],
    log: [["", "Scale: as the workspace"], ["1", "Log scale"], ["0", "Linear scale"]],
    robust: [["", "Outliers: as the workspace"], ["1", "Ignore outliers"], ["0", "Show outliers"]],
  };

  function panelSettings(key) {
    const menu = document.createElement("details");
    menu.className = "chart-settings";
    const summary = document.createElement("summary");
    summary.textContent = "Settings";
    summary.setAttribute("aria-label", "Settings of the " + key + " panel");
    const body = document.createElement("div");
    body.className = "chart-settings-body";
    body.setAttribute("role", "group");
    body.setAttribute("aria-label", "Settings of the " + key + " panel");
    const own = function () { return (settings.panels || {})[key] || {}; };
    Object.keys(CHOICES).forEach(function (name) {
      const select = document.createElement("select");
      select.dataset.panelSetting = name;
      CHOICES[name].forEach(function (pair) {
        const option = document.createElement("option");
        option.value = pair[0];
        option.textContent = pair[1];
        select.appendChild(option);
      });
      const value = own()[name];
      select.value = value === undefined ? "" : (typeof value === "boolean" ? (value ? "1" : "0") : value);
      select.addEventListener("change", function () {
        const mine = Object.assign({}, own());
        if (select.value === "") { delete mine[name]; } else { mine[name] = name === "log" || name === "robust" ? select.value === "1" : select.value; }
        settings.panels = Object.assign({}, settings.panels || {});
        if (Object.keys(mine).length) { settings.panels[key] = mine; } else { delete settings.panels[key]; }
        summary.classList.toggle("changed", Object.keys(mine).length > 0);
        saveSettings();
        const panel = panels[key];
        if (panel && panel.loaded === generation) { panel.zoom = null; panel.data = panel.overview; panel.xdata = panel.xoverview; draw(panel); }
      });
      body.appendChild(select);
    });
    const wide = document.createElement("label");
    wide.className = "check";
    const wideBox = document.createElement("input");
    wideBox.type = "checkbox";
    wideBox.dataset.panelWide = "";
    wideBox.checked = Boolean(own().wide);
    wide.append(wideBox, " Full width");
    wideBox.addEventListener("change", function () {
      const mine = Object.assign({}, own());
      if (wideBox.checked) { mine.wide = true; } else { delete mine.wide; }
      settings.panels = Object.assign({}, settings.panels || {});
      if (Object.keys(mine).length) { settings.panels[key] = mine; } else { delete settings.panels[key]; }
      saveSettings();
      if (panels[key]) { panels[key].element.classList.toggle("wide", wideBox.checked); }
    });
    const fold = document.createElement("label");
    fold.className = "check";
    const foldBox = document.createElement("input");
    foldBox.type = "checkbox";
    foldBox.dataset.panelCollapsed = "";
    foldBox.checked = Boolean(own().collapsed);
    fold.append(foldBox, " Collapsed");
    foldBox.addEventListener("change", function () {
      const mine = Object.assign({}, own());
      if (foldBox.checked) { mine.collapsed = true; } else { delete mine.collapsed; }
      settings.panels = Object.assign({}, settings.panels || {});
      if (Object.keys(mine).length) { settings.panels[key] = mine; } else { delete settings.panels[key]; }
      saveSettings();
      const panel = panels[key];
      if (panel) {
        panel.element.classList.toggle("collapsed", foldBox.checked);
        if (!foldBox.checked && visible.has(panel)) { enqueue(panel); }
      }
    });
    const moves = document.createElement("span");
    [["earlier", "Move earlier", -1], ["later", "Move later", 1]].forEach(function (m) {
      const button = document.createElement("button");
      button.type = "button";
      button.dataset.move = m[0];
      button.textContent = m[1];
      button.addEventListener("click", function () { move(key, m[2]); });
      moves.append(button, " ");
    });
    body.append(wide, fold, moves);
    summary.classList.toggle("changed", Object.keys(own()).length > 0);
    menu.append(summary, body);
    return menu;
  }

  // Panels in the order the user set (settings.order), the others after them by name.
  function ordered(keys) {
    const order = settings.order || [];
    const rank = function (k) { const i = order.indexOf(k); return i < 0 ? Infinity : i; };
    return keys.slice().sort(function (a, b) { return rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0); });
  }

  function move(key, by) {
    const siblings = ordered((root.metricKeys || []).filter(function (k) { return sectionOf(k) === sectionOf(key); }));
    const at = siblings.indexOf(key);
    const to = at + by;
    if (at < 0 || to < 0 || to >= siblings.length) { return; }
    siblings.splice(at, 1);
    siblings.splice(to, 0, key);
    const others = (settings.order || []).filter(function (k) { return siblings.indexOf(k) < 0; });
    settings.order = others.concat(siblings);
    saveSettings();
    layoutPanels(root.metricKeys);
    const button = panels[key] && panels[key].element.querySelector(by < 0 ? "[data-move=earlier]" : "[data-move=later]");
    if (button) { button.focus(); }
  }

  function makeSection(name) {
    const details = document.createElement("details");
    details.className = "panel-section";
    details.dataset.section = name;
    details.open = settings.folded.indexOf(name) < 0;
    const head = document.createElement("summary");
    const title = document.createElement("span");
    title.textContent = name || "Other metrics";
    const count = document.createElement("span");
    count.className = "muted";
    count.dataset.count = "";
    head.append(title, " ", count);
    const grid = document.createElement("div");
    grid.className = "panel-grid";
    details.append(head, grid);
    details.addEventListener("toggle", function () {
      const at = settings.folded.indexOf(name);
      if (details.open && at >= 0) { settings.folded.splice(at, 1); }
      if (!details.open && at < 0) { settings.folded.push(name); }
      saveSettings();
    });
    return details;
  }

  function layoutPanels(keys) {
    const wanted = new Set(keys);
    Object.keys(panels).forEach(function (k) {
      if (!wanted.has(k)) {
        if (observer) { observer.unobserve(panels[k].element); }
        visible.delete(panels[k]);
        panels[k].element.remove();
        delete panels[k];
      }
    });
    const names = Array.from(new Set(keys.map(sectionOf))).sort(function (a, b) {
      if (!a || !b) { return a ? -1 : 1; }  // keys without a prefix last
      return a < b ? -1 : 1;
    });
    names.forEach(function (name) {
      let section = sectionsElement.querySelector('[data-section="' + CSS.escape(name) + '"]');
      if (!section) { section = makeSection(name); }
      sectionsElement.appendChild(section);  // in order
      const grid = section.querySelector(".panel-grid");
      ordered(keys.filter(function (k) { return sectionOf(k) === name; })).forEach(function (k) {
        if (!panels[k]) {
          panels[k] = makePanel(k);
          if (observer) { observer.observe(panels[k].element); }
        }
        grid.appendChild(panels[k].element);
      });
    });
    sectionsElement.querySelectorAll("[data-section]").forEach(function (s) {
      if (names.indexOf(s.dataset.section) < 0) { s.remove(); }
    });
    applySearch();
  }

  function matcher() {
    const text = settings.search.trim();
    searchError.hidden = true;
    if (!text) { return function () { return true; }; }
    try {
      const pattern = new RegExp(text, "i");
      return function (key) { return pattern.test(key); };
    } catch (e) {
      searchError.hidden = false;
      searchError.textContent = "Not a regular expression (" + e.message + "): matching the text as typed.";
      const needle = text.toLowerCase();
      return function (key) { return key.toLowerCase().indexOf(needle) >= 0; };
    }
  }

  function applySearch() {
    const match = matcher();
    let shown = 0;
    sectionsElement.querySelectorAll("[data-section]").forEach(function (section) {
      let count = 0;
      section.querySelectorAll("[data-panel]").forEach(function (element) {
        element.hidden = !match(element.dataset.key);
        if (!element.hidden) { count += 1; }
      });
      section.hidden = count === 0;
      section.querySelector("[data-count]").textContent = "(" + count + ")";
      shown += count;
    });
    root.dataset.panels = String(shown);
    Object.values(panels).forEach(function (p) { if (visible.has(p)) { enqueue(p); } });
    return shown;
  }

  function showSummary(keys) {
    const hidden = settings.hidden.length;
    const total = tableRuns().length;
    summary.textContent = keys.length + " metric" + (keys.length === 1 ? "" : "s") + " of " + runs.length + " run" + (runs.length === 1 ? "" : "s") +
      " (of " + total + " in the table" + (hidden ? ", " + hidden + " hidden" : "") + ")";
    root.dataset.runs = runs.map(function (r) { return r.id; }).join(",");
    legend.textContent = "";
    if (groups) {
      summary.textContent = keys.length + " metric" + (keys.length === 1 ? "" : "s") + " of " + groups.length + " groups (" + runs.length + " runs drawn)";
      groups.forEach(function (g) {
        const item = document.createElement("li");
        const swatch = document.createElement("span");
        swatch.className = "swatch";
        swatch.style.background = g.color;
        item.append(swatch, g.label + " (" + g.count + ")");
        legend.appendChild(item);
      });
      return;
    }
    runs.forEach(function (r) {
      const item = document.createElement("li");
      const swatch = document.createElement("span");
      swatch.className = "swatch";
      swatch.dataset.runColor = r.id;
      swatch.style.background = color(r.id);
      item.append(swatch, r.name);
      legend.appendChild(item);
    });
  }

  function groupsUrl() {
    const page = new URLSearchParams(window.location.search);
    const query = new URLSearchParams({ experiment: experiment });
    ["filter", "view", "order"].forEach(function (name) { if (page.get(name)) { query.set(name, page.get(name)); } });
    settings.group.forEach(function (g) { query.append("group", g); });
    tableMetrics().forEach(function (m) { query.append("metric", m); });
    return "/ui/data/groups?" + query.toString();
  }

  function tableMetrics() {
    return Array.from(document.querySelectorAll('.runs thead th[data-kind="metric"][data-col^="metrics."]')).map(function (th) {
      return th.dataset.col.slice("metrics.".length);
    });
  }

  // The runs to draw changed (a tick, an eye, N, grouping): ask which metrics they have, redraw.
  function refresh() {
    generation += 1;
    const mine = generation;
    queue.length = 0;
    inFlight = 0;
    Object.values(panels).forEach(function (p) { p.element.dataset.state = "waiting"; });
    root.dataset.state = "loading";
    const grouped = settings.group.length ? fetchJSON(groupsUrl()) : Promise.resolve(null);
    grouped.then(function (body) {
      if (mine !== generation) { return null; }
      groups = body ? body.groups.map(function (g) { return Object.assign(g, { color: color("group:" + g.label), drawn: [] }); }) : null;
      showGroups(body);
      runs = drawnRuns();
      runsFor = mine;
      // For workspace_media.js, which may start after this: it reads root.drawnRuns then.
      root.drawnRuns = runs.map(function (r) { return { id: r.id, name: r.name }; });
      root.dispatchEvent(new CustomEvent("workspace:runs", { detail: { runs: root.drawnRuns } }));
      return runs.length ? fetchJSON("/ui/data/metric-keys?" + runs.map(function (r) { return "run=" + encodeURIComponent(r.id); }).join("&")) : { keys: [] };
    }).then(function (body) {
      if (!body || mine !== generation) { return; }
      layoutPanels(body.keys);
      if (!body.keys.length) { firstDrawn(); }
      queueOnScreen();
      showSummary(body.keys);
      offerXMetrics(body.keys);
      root.metricKeys = body.keys;  // for workspace_importance.js, which may start after this
      root.dispatchEvent(new CustomEvent("workspace:keys", { detail: { keys: body.keys } }));
      root.dataset.state = "ready";
    }).catch(function (error) {
      if (mine !== generation) { return; }
      summary.textContent = "Could not draw the workspace: " + error.message;
      root.dataset.state = "error";
    });
  }

  // Any metric of the runs can be the x axis of every panel.
  function offerXMetrics(keys) {
    const select = controls.querySelector("[data-x]");
    select.querySelectorAll('option[value^="metric:"]').forEach(function (o) { o.remove(); });
    keys.forEach(function (k) {
      const option = document.createElement("option");
      option.value = "metric:" + k;
      option.textContent = "Metric: " + k;
      select.appendChild(option);
    });
    select.value = settings.x;
    if (select.value !== settings.x) { select.value = "step"; }
  }

  // ---- grouping: the table folds into one row per group, the charts draw one line and band each
  function showGroups(body) {
    const holder = root.querySelector("[data-group-table]");
    const wrap = document.querySelector(".runs-wrap");
    const folded = document.querySelector("[data-table-folded]");
    holder.textContent = "";
    groupSummary.textContent = settings.group.length ? settings.group.map(function (g) { return g.replace(/^(params|tags)\./, ""); }).join(", ") : "nothing";
    if (wrap) { wrap.hidden = Boolean(body); }
    if (folded) {
      folded.hidden = !body;
      if (body) { folded.textContent = "The table is folded into " + body.groups.length + " groups of " + body.grouped + " runs: see the workspace below." + (body.matching > body.grouped ? " (The first " + body.grouped + " of " + body.matching + " matching runs are grouped.)" : ""); }
    }
    if (!body) { return; }
    const metrics = tableMetrics();
    const table = document.createElement("table");
    table.className = "grid groups";
    const head = table.createTHead().insertRow();
    body.group_by.concat(["Runs"], metrics).forEach(function (name, i) {
      const th = document.createElement("th");
      th.scope = "col";
      th.textContent = i < body.group_by.length ? name.replace(/^(params|tags)\./, "") : name;
      if (i >= body.group_by.length) { th.className = "num"; }
      head.appendChild(th);
    });
    const rows = table.createTBody();
    groups.forEach(function (g) {
      const row = rows.insertRow();
      row.dataset.group = g.label;
      g.values.forEach(function (v, i) {
        const cell = row.insertCell();
        if (i === 0) {
          const swatch = document.createElement("span");
          swatch.className = "swatch";
          swatch.style.background = g.color;
          cell.appendChild(swatch);
        }
        cell.append(v === null ? "(none)" : v);
      });
      const count = row.insertCell();
      count.className = "num";
      count.textContent = String(g.count);
      metrics.forEach(function (m) {
        const a = g.metrics[m];
        const cell = row.insertCell();
        cell.className = "num";
        if (!a || a.mean === null) { return; }
        cell.textContent = formatNumber(a.mean) + (a.count > 1 ? " (" + formatNumber(a.min) + " – " + formatNumber(a.max) + ")" : "");
        cell.title = "mean " + a.mean + ", median " + a.median + ", std " + a.std + ", " + a.count + " runs";
      });
    });
    holder.appendChild(table);
  }

  function formatNumber(v) {
    return Math.abs(v) >= 1e5 || (Math.abs(v) < 1e-3 && v !== 0) ? v.toExponential(3) : String(Number(v.toPrecision(4)));
  }

  function wireGroupPicker() {
    const picker = root.querySelector("[data-group-picker]");
    const options = picker.querySelector("[data-group-options]");
    let loaded = false;
    picker.addEventListener("toggle", function () {
      if (!picker.open || loaded) { return; }
      loaded = true;
      fetchJSON("/ui/data/group-keys?experiment=" + encodeURIComponent(experiment)).then(function (body) {
        options.textContent = "";
        const add = function (name) {
          const label = document.createElement("label");
          label.className = "check";
          const box = document.createElement("input");
          box.type = "checkbox";
          box.value = name;
          box.checked = settings.group.indexOf(name) >= 0;
          box.addEventListener("change", function () {
            settings.group = Array.from(options.querySelectorAll("input:checked")).map(function (b) { return b.value; });
            saveSettings();
            refresh();
          });
          label.append(box, " " + name);
          options.appendChild(label);
        };
        body.params.forEach(function (k) { add("params." + k); });
        body.tags.forEach(function (k) { add("tags." + k); });
        if (!body.params.length && !body.tags.length) { options.textContent = "The runs have no params or tags to group by."; }
      }).catch(function (error) { loaded = false; options.textContent = "Could not list the keys: " + error.message; });
    });
    const line = root.querySelector("[data-group-line]");
    const band = root.querySelector("[data-group-band]");
    line.value = settings.line;
    band.value = settings.band;
    const change = function () { settings.line = line.value; settings.band = band.value; saveSettings(); redrawAll(); };
    line.addEventListener("change", change);
    band.addEventListener("change", change);
  }

  function wireControls() {
    controls.hidden = false;
    const first = controls.querySelector("[data-first-n]");
    const x = controls.querySelector("[data-x]");
    const kind = controls.querySelector("[data-smoothing-kind]");
    const amount = controls.querySelector("[data-smoothing]");
    const shown = controls.querySelector("[data-smoothing-shown]");
    const log = controls.querySelector("[data-log]");
    const robust = controls.querySelector("[data-robust]");
    first.value = String(settings.first);
    x.value = settings.x;
    kind.value = settings.smoothing;
    amount.value = String(settings.amount);
    shown.textContent = String(settings.amount);
    log.checked = settings.log;
    robust.checked = settings.robust;
    searchInput.value = settings.search;
    first.addEventListener("change", function () { settings.first = Number(first.value); saveSettings(); refresh(); });
    const redraw = function () {
      const refetch = (settings.x.indexOf("metric:") === 0 || x.value.indexOf("metric:") === 0) && settings.x !== x.value;
      settings.x = x.value;
      settings.smoothing = kind.value;
      settings.amount = Number(amount.value);
      shown.textContent = amount.value;
      settings.log = log.checked;
      settings.robust = robust.checked;
      saveSettings();
      Object.values(panels).forEach(function (p) { p.zoom = null; p.data = p.overview; p.xdata = p.xoverview; });
      if (refetch) { refresh(); } else { redrawAll(); }  // another metric as x axis: its data comes along
    };
    [x, kind, log, robust].forEach(function (c) { c.addEventListener("change", redraw); });
    amount.addEventListener("input", redraw);
    searchInput.addEventListener("input", function () { settings.search = searchInput.value; saveSettings(); applySearch(); });
  }

  function start() {
    wireControls();
    wireGroupPicker();
    decorateRows();
    if ("IntersectionObserver" in window) {
      observer = new IntersectionObserver(function (entries) {
        entries.forEach(function (entry) {
          const panel = panels[entry.target.dataset.key];
          if (!panel) { return; }
          if (entry.isIntersecting) { visible.add(panel); enqueue(panel); } else { visible.delete(panel); }
        });
      }, { rootMargin: "400px" });
    }
    // plotly.js (for the interactive charts) loads once the pointer comes over the panels, or
    // once the panels near the screen are drawn and the page is idle: not before the first panels.
    sectionsElement.addEventListener("pointerover", function () { loadPlotly(); }, { once: true, passive: true });
    form.addEventListener("change", function (event) {
      if (event.target.name === "run" || event.target.matches("[data-select-all]")) { refresh(); }
    });
    // The table's own script unticks the runs on "Clear selection" without a change event.
    const clear = form.querySelector("[data-clear-selection]");
    if (clear) { clear.addEventListener("click", function () { window.setTimeout(refresh, 0); }); }
    if (window.RunColors) { window.RunColors.onChange(function () { redrawAll(); showSummary(Object.keys(panels)); }); }
    refresh();
    if (!observer) { window.setTimeout(function () { Object.values(panels).forEach(function (p) { visible.add(p); enqueue(p); }); }, 0); }
  }

  start();
})();
