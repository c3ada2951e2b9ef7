// A light line chart on a <canvas>, drawn from the same traces and layout the workspace hands to
// plotly (lines with gaps, markers for single points, bands filled to the trace before, a linear,
// log or date axis, grid lines and ticks). It draws a panel in a few milliseconds where plotly
// takes tens: the workspace draws every panel this way first and builds the interactive chart
// (hover values, zoom) when the pointer or the focus comes to the panel.
"use strict";

(function () {
  const FONT = '"Open Sans", verdana, arial, sans-serif';

  function finite(v) { return v !== null && v !== undefined && isFinite(v); }
  function num(v) { return v instanceof Date ? v.getTime() : v; }

  // Round steps (1, 2 or 5 times a power of ten) giving about `count` ticks over [lo, hi].
  function niceTicks(lo, hi, count) {
    const span = hi - lo;
    if (!(span > 0)) { return [lo]; }
    const raw = span / Math.max(1, count);
    const power = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 5, 10].map(function (m) { return m * power; }).find(function (s) { return s >= raw; });
    const out = [];
    for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) { out.push(Math.abs(v) < step * 1e-9 ? 0 : v); }
    return out.map(function (v) { return { at: v, label: formatNumber(v, step) }; });
  }

  function formatNumber(v, step) {
    const abs = Math.abs(v);
    if (abs >= 1e6 && step >= 1e5) { return trim(v / 1e6, step / 1e6) + "M"; }
    if (abs >= 1e3 && step >= 100) { return trim(v / 1e3, step / 1e3) + "k"; }
    if (abs !== 0 && (abs < 1e-4 || abs >= 1e9)) { return v.toExponential(1); }
    return trim(v, step);
  }

  function trim(v, step) {
    const digits = Math.max(0, Math.min(10, -Math.floor(Math.log10(step) + 1e-9)));
    return Number(v.toFixed(digits)).toString();
  }

  // A log axis (values already as log10): a tick at each power of ten, or round steps within one.
  function logTicks(lo, hi, count) {
    if (hi - lo < 1) {
      return niceTicks(lo, hi, count).map(function (t) {
        const v = Math.pow(10, t.at);
        return { at: t.at, label: Number(v.toPrecision(2)).toString() };
      });
    }
    const every = Math.max(1, Math.ceil((hi - lo) / Math.max(1, count)));
    const out = [];
    for (let e = Math.ceil(lo); e <= hi; e += every) {
      out.push({ at: e, label: e >= -4 && e <= 5 ? Number(Math.pow(10, e).toPrecision(1)).toString() : "1e" + e });
    }
    return out;
  }

  const SECOND = 1000;
  const DATE_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800, 1209600, 2592000]
    .map(function (s) { return s * SECOND; });
  const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

  function dateTicks(lo, hi, count) {
    const raw = (hi - lo) / Math.max(1, count);
    const step = DATE_STEPS.find(function (s) { return s >= raw; }) || Math.ceil(raw / 86400000) * 86400000;
    const offset = new Date(lo).getTimezoneOffset() * 60000;  // round in local time, as the labels are
    const out = [];
    for (let v = Math.ceil((lo - offset) / step) * step + offset; v <= hi; v += step) {
      const d = new Date(v);
      const two = function (n) { return String(n).padStart(2, "0"); };
      let label;
      if (step >= 86400000) { label = MONTHS[d.getMonth()] + " " + d.getDate(); }
      else if (step >= 60000) { label = two(d.getHours()) + ":" + two(d.getMinutes()); }
      else { label = two(d.getHours()) + ":" + two(d.getMinutes()) + ":" + two(d.getSeconds()); }
      out.push({ at: v, label: label });
    }
    return out;
  }

  // The extent of the values on one axis (log10 of the positive ones on a log axis).
  function extent(traces, key, log) {
    let lo = Infinity;
    let hi = -Infinity;
    traces.forEach(function (t) {
      const values = t[key];
      for (let i = 0; i < values.length; i += 1) {
        let v = num(values[i]);
        if (!finite(v) || (log && v <= 0)) { continue; }
        if (log) { v = Math.log10(v); }
        if (v < lo) { lo = v; }
        if (v > hi) { hi = v; }
      }
    });
    if (lo > hi) { return [0, 1]; }
    if (lo === hi) { const pad = Math.abs(lo) * 0.1 || 1; return [lo - pad, hi + pad]; }
    return [lo, hi];
  }

  // The points of a trace in pixels, null where the line breaks.
  function project(trace, sx, sy, log) {
    const out = new Array(trace.x.length);
    for (let i = 0; i < trace.x.length; i += 1) {
      const x = num(trace.x[i]);
      const y = trace.y[i];
      out[i] = finite(x) && finite(y) && (!log || y > 0) ? [sx(x), sy(log ? Math.log10(y) : y)] : null;
    }
    return out;
  }

  function strokeLine(g, points) {
    g.beginPath();
    let pen = false;
    points.forEach(function (p) {
      if (!p) { pen = false; return; }
      if (pen) { g.lineTo(p[0], p[1]); } else { g.moveTo(p[0], p[1]); pen = true; }
    });
    g.stroke();
  }

  // Draws the chart into `holder` (a canvas made or reused in it) at layout.width x layout.height.
  function draw(holder, traces, layout) {
    let canvas = holder.querySelector("canvas[data-overview]");
    if (!canvas) {
      canvas = document.createElement("canvas");
      canvas.dataset.overview = "";
      canvas.style.display = "block";
      holder.appendChild(canvas);
    }
    const width = Math.max(50, Math.round(layout.width));
    const height = Math.max(50, Math.round(layout.height));
    const ratio = window.devicePixelRatio || 1;
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
    canvas.style.width = width + "px";
    canvas.style.height = height + "px";
    const g = canvas.getContext("2d");
    g.setTransform(ratio, 0, 0, ratio, 0, 0);
    g.clearRect(0, 0, width, height);

    const m = layout.margin;
    const left = m.l;
    const right = width - m.r;
    const top = m.t;
    const bottom = height - m.b;
    const xaxis = layout.xaxis;
    const yaxis = layout.yaxis;
    const log = yaxis.type === "log";
    const date = xaxis.type === "date";
    const xr = xaxis.range ? xaxis.range.map(function (v) { return date ? new Date(v).getTime() : Number(v); }) : extent(traces, "x", false);
    let yr = yaxis.range ? yaxis.range.slice() : extent(traces, "y", log);
    if (!yaxis.range) { const pad = (yr[1] - yr[0]) * 0.05; yr = [yr[0] - pad, yr[1] + pad]; }
    const sx = function (v) { return left + (v - xr[0]) / ((xr[1] - xr[0]) || 1) * (right - left); };
    const sy = function (v) { return bottom - (v - yr[0]) / ((yr[1] - yr[0]) || 1) * (bottom - top); };

    // Grid and ticks.
    g.font = "12px " + FONT;
    g.fillStyle = layout.font.color;
    g.strokeStyle = xaxis.gridcolor;
    g.lineWidth = 1;
    const xTicks = date ? dateTicks(xr[0], xr[1], Math.max(2, Math.floor((right - left) / 90))) : niceTicks(xr[0], xr[1], Math.max(2, Math.floor((right - left) / 60)));
    const yCount = Math.max(2, Math.floor((bottom - top) / 35));
    const yTicks = log ? logTicks(yr[0], yr[1], yCount) : niceTicks(yr[0], yr[1], yCount);
    g.textAlign = "center";
    g.textBaseline = "top";
    xTicks.forEach(function (t) {
      const x = Math.round(sx(t.at)) + 0.5;
      if (x < left - 0.5 || x > right + 0.5) { return; }
      g.beginPath(); g.moveTo(x, top); g.lineTo(x, bottom); g.stroke();
      g.fillText(t.label, x, bottom + 4);
    });
    g.textAlign = "right";
    g.textBaseline = "middle";
    yTicks.forEach(function (t) {
      const y = Math.round(sy(t.at)) + 0.5;
      if (y < top - 0.5 || y > bottom + 0.5) { return; }
      g.beginPath(); g.moveTo(left, y); g.lineTo(right, y); g.stroke();
      g.fillText(t.label, left - 4, y);
    });
    if (xaxis.title && xaxis.title.text) {
      g.font = "14px " + FONT;
      g.textAlign = "center";
      g.textBaseline = "bottom";
      g.fillText(xaxis.title.text, (left + right) / 2, height - 2);
    }

    // The traces, clipped to the plot area.
    g.save();
    g.beginPath();
    g.rect(left, top, right - left, bottom - top);
    g.clip();
    let previous = null;
    traces.forEach(function (t) {
      const points = project(t, sx, sy, log);
      if (t.fill === "tonexty" && previous) {
        const edge = points.filter(Boolean);
        const other = previous.filter(Boolean);
        if (edge.length && other.length) {
          g.fillStyle = t.fillcolor || t.line.color;
          g.beginPath();
          other.forEach(function (p, i) { if (i) { g.lineTo(p[0], p[1]); } else { g.moveTo(p[0], p[1]); } });
          for (let i = edge.length - 1; i >= 0; i -= 1) { g.lineTo(edge[i][0], edge[i][1]); }
          g.closePath();
          g.fill();
        }
      }
      previous = points;
      g.globalAlpha = t.opacity === undefined ? 1 : t.opacity;
      if (t.mode === "markers") {
        g.fillStyle = (t.marker && t.marker.color) || t.line.color;
        const r = ((t.marker && t.marker.size) || 6) / 2;
        points.forEach(function (p) { if (p) { g.beginPath(); g.arc(p[0], p[1], r, 0, 2 * Math.PI); g.fill(); } });
      } else if (t.line.width > 0) {
        g.strokeStyle = t.line.color;
        g.lineWidth = t.line.width;
        g.lineJoin = "round";
        strokeLine(g, points);
      }
      g.globalAlpha = 1;
    });
    g.restore();
    return canvas;
  }

  window.OverviewChart = { draw: draw };
})();
