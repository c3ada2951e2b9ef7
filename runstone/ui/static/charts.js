// Charts of the run and compare pages, drawn with plotly.js from compact JSON.
//
// Each metric chart fetches a downsampled history (the server keeps each bucket's minimum and
// maximum, so spikes stay visible) when it scrolls into view; zooming fetches the zoomed step
// range again at full resolution up to the same number of points.
//
// Every chart has its own settings (x axis, log scale, smoothing), kept in the page's URL:
// ``xaxis``, ``log`` and ``smooth`` for all charts, ``xaxis:<metric>`` (and so on) for one.
"use strict";

(function () {
  const MAX_POINTS = 1000;
  const DEFAULTS = { x: "step", log: false, smoothing: 0 };
  const PARAMS = { x: "xaxis", log: "log", smoothing: "smooth" };
  const X_AXES = { step: "Step", time: "Wall time", relative: "Relative time" };
  const charts = [];
  const dataElement = document.getElementById("compare-data");
  const compared = dataElement ? JSON.parse(dataElement.textContent) : { runs: [] };
  const byId = {};
  compared.runs.forEach(function (r) {
    if (window.RunColors) { r.color = window.RunColors.color(r.id); }  // a colour the user pinned
    byId[r.id] = r;
  });
  const plotConfig = { responsive: true, displaylogo: false, modeBarButtonsToRemove: ["select2d", "lasso2d"] };

  function parseSetting(name, text) {
    if (text === null) { return undefined; }
    if (name === "x") { return X_AXES[text] ? text : undefined; }
    if (name === "log") { return text === "1"; }
    const value = Number(text);
    return isFinite(value) && value >= 0 && value < 1 ? value : undefined;
  }

  function formatSetting(name, value) {
    if (name === "log") { return value ? "1" : "0"; }
    return String(value);
  }

  // The settings for every chart (the page's) and for one chart (its key's), from the URL.
  function pageSettings() {
    const query = new URLSearchParams(window.location.search);
    const out = Object.assign({}, DEFAULTS);
    Object.keys(PARAMS).forEach(function (name) {
      const value = parseSetting(name, query.get(PARAMS[name]));
      if (value !== undefined) { out[name] = value; }
    });
    return out;
  }

  function chartSettings(key) {
    const query = new URLSearchParams(window.location.search);
    const out = pageSettings();
    Object.keys(PARAMS).forEach(function (name) {
      const value = parseSetting(name, query.get(PARAMS[name] + ":" + key));
      if (value !== undefined) { out[name] = value; }
    });
    return out;
  }

  // Writes the settings into the URL without reloading: a chart's own only where they differ
  // from the page's.
  function remember() {
    const query = new URLSearchParams(window.location.search);
    const page = pageSettings();
    charts.forEach(function (chart) {
      Object.keys(PARAMS).forEach(function (name) {
        const param = PARAMS[name] + ":" + chart.key;
        if (chart.settings[name] === page[name]) {
          query.delete(param);
        } else {
          query.set(param, formatSetting(name, chart.settings[name]));
        }
      });
    });
    const search = query.toString();
    window.history.replaceState(window.history.state, "", window.location.pathname + (search ? "?" + search : "") + window.location.hash);
  }

  function setPageSetting(name, value) {
    const query = new URLSearchParams(window.location.search);
    if (value === DEFAULTS[name]) { query.delete(PARAMS[name]); } else { query.set(PARAMS[name], formatSetting(name, value)); }
    const search = query.toString();
    window.history.replaceState(window.history.state, "", window.location.pathname + (search ? "?" + search : "") + window.location.hash);
  }

  function historyUrl(chart, range) {
    const query = new URLSearchParams({ key: chart.key, max_points: String(MAX_POINTS) });
    chart.series.forEach(function (s) { query.append("run", s.id); });
    if (range) {
      query.set("start_step", String(range[0]));
      query.set("end_step", String(range[1]));
    }
    return "/ui/data/histories?" + query.toString();
  }

  function fetchHistory(chart, range) {
    return fetch(historyUrl(chart, range), { credentials: "same-origin" }).then(function (response) {
      if (!response.ok) {
        return response.json().then(function (body) {
          throw new Error((body.error && body.error.message) || response.statusText);
        });
      }
      return response.json();
    });
  }

  // Exponential moving average with bias correction; gaps (null) stay gaps.
  function smooth(values, weight) {
    if (!weight) { return values; }
    let last = 0;
    let count = 0;
    return values.map(function (v) {
      if (v === null || !isFinite(v)) { return null; }
      last = last * weight + (1 - weight) * v;
      count += 1;
      return last / (1 - Math.pow(weight, count));
    });
  }

  function xValues(chart, points) {
    if (chart.settings.x === "time") { return points.timestamps.map(function (t) { return new Date(t); }); }
    if (chart.settings.x === "relative") {
      const t0 = points.timestamps.length ? points.timestamps[0] : 0;
      return points.timestamps.map(function (t) { return (t - t0) / 1000; });
    }
    return points.steps;
  }

  function traces(chart) {
    const out = [];
    chart.series.forEach(function (s, index) {
      const points = chart.data[s.id];
      if (!points) { return; }
      const x = xValues(chart, points);
      const color = s.color || undefined;
      const name = s.name || s.id;
      if (chart.settings.smoothing > 0) {
        out.push({ x: x, y: points.values, type: "scatter", mode: "lines", name: name + " (raw)",
          line: { color: color, width: 1 }, opacity: 0.25, showlegend: false, hoverinfo: "skip",
          legendgroup: s.id });
      }
      out.push({ x: x, y: smooth(points.values, chart.settings.smoothing), type: "scatter",
        mode: points.steps.length > 1 ? "lines" : "markers", name: name, legendgroup: s.id,
        line: { color: color, width: 1.5 }, marker: { color: color, size: 6 }, connectgaps: false,
        hovertemplate: "%{y}<extra>" + name.replace(/</g, "&lt;") + "</extra>", showlegend: false });
    });
    return out;
  }

  // Runs are told apart by colour: the page lists them once (compare's legend, the run's own
  // name), so that no chart spends a row of its height on a legend.
  function layout(chart) {
    const settings = chart.settings;
    const xTitle = { step: "step", time: "wall time", relative: "seconds since the first point" }[settings.x];
    const xaxis = { title: { text: xTitle }, type: settings.x === "time" ? "date" : "linear" };
    if (chart.zoom) {
      xaxis.range = chart.zoom.slice();
      xaxis.autorange = false;
    }
    // The page's colours (dark mode follows the system): text and grid lines from its CSS variables.
    const style = getComputedStyle(document.documentElement);
    const line = style.getPropertyValue("--line").trim() || "#d8dde3";
    xaxis.gridcolor = line;
    return {
      paper_bgcolor: "rgba(0,0,0,0)",
      plot_bgcolor: "rgba(0,0,0,0)",
      font: { color: style.getPropertyValue("--fg").trim() || "#1b1f24" },
      margin: { l: 60, r: 20, t: 10, b: 45 },
      height: chart.element.classList.contains("wide") ? 360 : 280,
      xaxis: xaxis,
      yaxis: { type: settings.log ? "log" : "linear", title: { text: chart.key }, autorange: true, gridcolor: line },
      hovermode: "closest",
      showlegend: false,
      uirevision: settings.x + settings.log,
    };
  }

  // When a chart first had data on screen, in ms since the page started loading (benchmarks read it).
  function stamp(element) {
    if (!element.dataset.drawnAt) { element.dataset.drawnAt = String(Math.round(performance.now())); }
  }

  function pointCount(chart) {
    return Object.values(chart.data).reduce(function (n, p) { return n + p.steps.length; }, 0);
  }

  function draw(chart) {
    chart.element.dataset.state = "drawing";
    return Plotly.react(chart.plot, traces(chart), layout(chart), plotConfig).then(function () {
      chart.element.dataset.state = "drawn";
      chart.element.dataset.points = String(pointCount(chart));
      stamp(chart.element);
    });
  }

  function fail(chart, error) {
    chart.element.dataset.state = "error";
    const message = document.createElement("p");
    message.className = "chart-error";
    message.setAttribute("role", "alert");
    message.textContent = "Could not load this chart: " + error.message;
    chart.element.appendChild(message);
  }

  // The step range that a zoomed x range covers, from the points on screen.
  function stepRange(chart, start, end) {
    if (chart.settings.x === "step") { return [Math.floor(start), Math.ceil(end)]; }
    let lo = Infinity;
    let hi = -Infinity;
    Object.values(chart.data).forEach(function (points) {
      const x = xValues(chart, points).map(function (v) { return v instanceof Date ? v.getTime() : v; });
      for (let i = 0; i < x.length; i += 1) {
        if (x[i] >= start && x[i] <= end) {
          lo = Math.min(lo, points.steps[i]);
          hi = Math.max(hi, points.steps[i]);
        }
      }
    });
    return lo <= hi ? [lo, hi] : null;
  }

  function toNumber(chart, value) {
    return chart.settings.x === "time" ? new Date(String(value).replace(" ", "T") + "Z").getTime() : Number(value);
  }

  function onRelayout(chart, event) {
    if (event["xaxis.autorange"] || event["xaxis.range"] === undefined && event["xaxis.range[0]"] === undefined) {
      if (event["xaxis.autorange"] && chart.zoom) {
        chart.zoom = null;
        chart.data = chart.overview;
        draw(chart);
      }
      return;
    }
    const range = event["xaxis.range"] || [event["xaxis.range[0]"], event["xaxis.range[1]"]];
    const steps = stepRange(chart, toNumber(chart, range[0]), toNumber(chart, range[1]));
    chart.zoom = range;
    if (!steps) { return; }
    const wanted = steps.join(":");
    chart.pending = wanted;
    chart.element.dataset.state = "zooming";
    fetchHistory(chart, steps).then(function (body) {
      if (chart.pending !== wanted) { return; }
      chart.data = body.runs;
      chart.element.dataset.zoomSteps = wanted;
      return draw(chart);
    }).catch(function (error) { fail(chart, error); });
  }

  function load(chart) {
    if (chart.started) { return Promise.resolve(); }
    chart.started = true;
    chart.element.dataset.state = "loading";
    return fetchHistory(chart, null).then(function (body) {
      chart.overview = body.runs;
      chart.data = body.runs;
      return draw(chart).then(function () {
        chart.plot.on("plotly_relayout", function (event) { onRelayout(chart, event); });
      });
    }).catch(function (error) { fail(chart, error); });
  }

  function redraw(chart) {
    if (chart.element.dataset.state === "drawn") {
      chart.zoom = null;
      chart.data = chart.overview;
      draw(chart);
    }
  }

  function showSettings(chart) {
    const panel = chart.element.querySelector(".chart-settings");
    if (!panel) { return; }
    panel.querySelector("select").value = chart.settings.x;
    panel.querySelector("input[type=checkbox]").checked = chart.settings.log;
    panel.querySelector("input[type=range]").value = String(chart.settings.smoothing);
    panel.querySelector("output").textContent = String(chart.settings.smoothing);
    const own = Object.keys(DEFAULTS).some(function (name) { return chart.settings[name] !== DEFAULTS[name]; });
    panel.querySelector("summary").classList.toggle("changed", own);
  }

  // A small settings menu in the chart's caption: the chart's own x axis, log scale and smoothing.
  function addSettings(chart) {
    const caption = chart.element.querySelector("figcaption");
    const panel = document.createElement("details");
    panel.className = "chart-settings";
    const summary = document.createElement("summary");
    summary.textContent = "Settings";
    summary.setAttribute("aria-label", "Settings of the " + chart.key + " chart");
    const body = document.createElement("div");
    body.className = "chart-settings-body";
    body.setAttribute("role", "group");
    body.setAttribute("aria-label", "Settings of the " + chart.key + " chart");
    const xLabel = document.createElement("label");
    xLabel.textContent = "X axis ";
    const x = document.createElement("select");
    Object.keys(X_AXES).forEach(function (value) {
      const option = document.createElement("option");
      option.value = value;
      option.textContent = X_AXES[value];
      x.appendChild(option);
    });
    xLabel.appendChild(x);
    const logLabel = document.createElement("label");
    const log = document.createElement("input");
    log.type = "checkbox";
    logLabel.append(log, " Log scale");
    const smoothLabel = document.createElement("label");
    smoothLabel.textContent = "Smoothing ";
    const slider = document.createElement("input");
    Object.assign(slider, { type: "range", min: "0", max: "0.99", step: "0.01" });
    const shown = document.createElement("output");
    smoothLabel.append(slider, " ", shown);
    body.append(xLabel, logLabel, smoothLabel);
    panel.append(summary, body);
    caption.appendChild(panel);
    const change = function (name, value) {
      chart.settings[name] = value;
      showSettings(chart);
      remember();
      redraw(chart);
    };
    x.addEventListener("change", function () { change("x", x.value); });
    log.addEventListener("change", function () { change("log", log.checked); });
    slider.addEventListener("input", function () { change("smoothing", Number(slider.value)); });
    showSettings(chart);
  }

  // Sets up every metric chart; resolves once the charts in view at first have been drawn.
  function setUpMetricCharts() {
    document.querySelectorAll("[data-chart]").forEach(function (element) {
      const series = JSON.parse(element.dataset.series).map(function (s) {
        const id = typeof s === "string" ? s : s.id;
        const own = window.RunColors ? { color: window.RunColors.color(id) } : {};
        return Object.assign({ id: id }, own, byId[id] || {}, typeof s === "string" ? {} : s);
      });
      charts.push({ element: element, plot: element.querySelector(".plot"), key: element.dataset.key,
        series: series, data: {}, overview: {}, zoom: null, started: false,
        settings: chartSettings(element.dataset.key) });
    });
    if (!charts.length) { return Promise.resolve(); }
    // Compare draws its first chart at once, in view or not, before the parallel coordinates
    // take the main thread (see start).
    const first = dataElement ? load(charts[0]) : null;
    let firstInView = null;
    const inView = new Promise(function (resolve) { firstInView = resolve; });
    if ("IntersectionObserver" in window) {
      const observer = new IntersectionObserver(function (entries) {
        const loads = [];
        entries.forEach(function (entry) {
          if (entry.isIntersecting) {
            observer.unobserve(entry.target);
            loads.push(load(charts.find(function (c) { return c.element === entry.target; })));
          }
        });
        firstInView(Promise.all(loads));  // only the first call counts
      }, { rootMargin: "300px" });
      charts.forEach(function (c) { observer.observe(c.element); });
    } else {
      firstInView(Promise.all(charts.map(load)));
    }
    charts.forEach(addSettings);
    document.querySelectorAll("[data-chart-controls]").forEach(function (panel) {
      panel.hidden = false;
      const page = pageSettings();
      const xAxis = panel.querySelector("[data-x-axis]");
      const log = panel.querySelector("[data-log-scale]");
      const slider = panel.querySelector("[data-smoothing]");
      const shown = panel.querySelector("[data-smoothing-value]");
      xAxis.value = page.x;
      log.checked = page.log;
      slider.value = String(page.smoothing);
      shown.textContent = String(page.smoothing);
      // The page's controls set every chart, and drop the charts' own settings of the same kind.
      const all = function (name, value) {
        setPageSetting(name, value);
        charts.forEach(function (c) { c.settings[name] = value; showSettings(c); redraw(c); });
        remember();
      };
      xAxis.addEventListener("change", function () { all("x", xAxis.value); });
      log.addEventListener("change", function () { all("log", log.checked); });
      slider.addEventListener("input", function () {
        shown.textContent = slider.value;
        all("smoothing", Number(slider.value));
      });
    });
    return first ? Promise.all([first, inView]) : inView;
  }

  function numeric(text) {
    const value = Number(text);
    return text !== null && text !== undefined && text !== "" && isFinite(value) ? value : null;
  }

  function column(name) {
    const dot = name.indexOf(".");
    const kind = name.slice(0, dot);
    const key = name.slice(dot + 1);
    const numbers = kind === "metrics" || compared.numeric_params.indexOf(key) >= 0;
    return compared.runs.map(function (r) {
      const raw = kind === "metrics" ? r.metrics[key] : r.params[key];
      if (raw === undefined || raw === null) { return null; }
      return numbers ? numeric(raw) : String(raw);
    });
  }

  // An axis of positive numbers spanning two decades or more (learning rates, say) is drawn on a
  // log scale, ticked at the powers of ten; parallel coordinates have no log axis of their own.
  function logAxis(label, values) {
    const finite = values.filter(function (v) { return v !== null && v !== undefined && isFinite(v); });
    if (finite.length < 2 || finite.some(function (v) { return v <= 0; })) { return null; }
    const lo = Math.min.apply(null, finite);
    const hi = Math.max.apply(null, finite);
    if (hi / lo < 100) { return null; }
    const ticks = [];
    for (let p = Math.floor(Math.log10(lo)); p <= Math.ceil(Math.log10(hi)); p += 1) { ticks.push(p); }
    return {
      label: label + " (log)", key: label, log: true,
      values: values.map(function (v) { return v === null || v === undefined ? null : Math.log10(v); }),
      tickvals: ticks, ticktext: ticks.map(function (p) { return String(Number("1e" + p)); }),
      range: [Math.log10(lo), Math.log10(hi)],
    };
  }

  function drawParallel(element) {
    const metric = element.dataset.metric;
    const runs = compared.runs.filter(function (r) { return r.metrics[metric] !== undefined && r.metrics[metric] !== null; });
    if (!runs.length) {
      element.textContent = "No compared run has a value for " + metric + ".";
      element.dataset.state = "empty";
      return;
    }
    const varying = compared.params.filter(function (k) {
      return new Set(runs.map(function (r) { return r.params[k]; })).size > 1;
    });
    // A sweep names its swept parameters: those are the axes.
    const chosen = element.dataset.axes ? JSON.parse(element.dataset.axes) : [];
    const keys = (chosen.length ? chosen : (varying.length ? varying : compared.params)).slice(0, 30);
    const dimensions = keys.map(function (k) {
      const values = runs.map(function (r) { return r.params[k]; });
      const isNumber = compared.numeric_params.indexOf(k) >= 0 && values.every(function (v) { return numeric(v) !== null; });
      if (isNumber) { return logAxis(k, values.map(numeric)) || { label: k, values: values.map(numeric) }; }
      const labels = Array.from(new Set(values.map(function (v) { return v === undefined ? "(none)" : String(v); }))).sort();
      return { label: k, values: values.map(function (v) { return labels.indexOf(v === undefined ? "(none)" : String(v)); }),
        tickvals: labels.map(function (_, i) { return i; }), ticktext: labels };
    });
    const raw = runs.map(function (r) { return r.metrics[metric]; });
    const scoreAxis = logAxis(metric, raw) || { label: metric, values: raw };
    const scores = scoreAxis.values;
    dimensions.push(scoreAxis);
    // Coloured by the metric, or (the box under the plot) each line in its run's colour.
    const byRun = document.getElementById("pc-run-colours");
    let line = { color: scores, colorscale: "Viridis", showscale: true, colorbar: { title: { text: metric } } };
    if (byRun && byRun.checked) {
      const stops = [];
      runs.forEach(function (r, i) { stops.push([i / runs.length, r.color], [(i + 1) / runs.length, r.color]); });
      line = { color: runs.map(function (_, i) { return (i + 0.5) / runs.length; }), colorscale: stops, cmin: 0, cmax: 1, showscale: false };
    }
    element.dataset.lineColours = byRun && byRun.checked ? "runs" : "metric";
    Plotly.newPlot(element, [{ type: "parcoords", dimensions: dimensions, line: line }],
    { margin: { l: 70, r: 70, t: 50, b: 30 }, height: 420 }, plotConfig).then(function () {
      element.dataset.state = "drawn";
      element.dataset.dimensions = String(dimensions.length);
      element.dataset.logAxes = dimensions.filter(function (d) { return d.log; }).map(function (d) { return d.key; }).join(",");
      stamp(element);
    });
  }

  function drawScatter(element) {
    const xName = element.dataset.x;
    const yName = element.dataset.y;
    const x = column(xName);
    const y = column(yName);
    const keep = compared.runs.map(function (_, i) { return x[i] !== null && y[i] !== null; });
    const pick = function (values) { return values.filter(function (_, i) { return keep[i]; }); };
    const runs = pick(compared.runs);
    Plotly.newPlot(element, [{ type: "scatter", mode: "markers", x: pick(x), y: pick(y),
      text: runs.map(function (r) { return r.name; }), hovertemplate: "%{text}<br>%{x}, %{y}<extra></extra>",
      marker: { size: 10, color: runs.map(function (r) { return r.color; }) } }],
    { margin: { l: 70, r: 20, t: 10, b: 50 }, height: 380, xaxis: { title: { text: xName } },
      yaxis: { title: { text: yName } } }, plotConfig).then(function () {
      element.dataset.state = "drawn";
      element.dataset.points = String(runs.length);
      stamp(element);
    });
  }

  function start() {
    const chartsInView = setUpMetricCharts();
    document.querySelectorAll("[data-scatter]").forEach(drawScatter);
    // Parallel coordinates draw with WebGL, which costs most where it runs in software: let the
    // page paint its tables, the scatter and the charts in view first.
    const drawLast = function () {
      window.requestAnimationFrame(function () {
        window.setTimeout(function () { document.querySelectorAll("[data-parallel]").forEach(drawParallel); }, 0);
        const byRun = document.getElementById("pc-run-colours");
        if (byRun) {
          byRun.hidden = false;
          byRun.parentElement.hidden = false;
          byRun.addEventListener("change", function () { document.querySelectorAll("[data-parallel]").forEach(drawParallel); });
        }
      });
    };
    chartsInView.then(drawLast, drawLast);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
