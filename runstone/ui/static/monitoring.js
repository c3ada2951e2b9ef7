// The monitoring page's charts, drawn with plotly.js from the JSON the page carries: drift per
// feature over time (a heat map of PSI), reference against current distribution of a feature,
// and quality over time.
"use strict";

(function () {
  const element = document.getElementById("monitoring-data");
  if (!element || typeof Plotly === "undefined") { return; }
  const data = JSON.parse(element.textContent);
  const config = { responsive: true, displaylogo: false };
  const times = data.windows.map(function (w) { return new Date(w.start).toISOString(); });

  const heat = document.getElementById("drift-heatmap");
  if (heat && data.features.length) {
    const marks = data.drifted.map(function (row) { return row.map(function (d) { return d ? "×" : ""; }); });
    Plotly.newPlot(heat, [{
      type: "heatmap", x: times, y: data.features, z: data.psi, zmin: 0, zmax: 0.5,
      colorscale: [[0, "#f3f6fa"], [0.2, "#fde68a"], [0.4, "#f59e0b"], [1, "#b91c1c"]],
      text: marks, texttemplate: "%{text}", hovertemplate: "%{y} at %{x}<br>PSI %{z:.3f}<extra></extra>",
      colorbar: { title: { text: "PSI" } },
    }], { margin: { t: 10, r: 10, b: 40, l: 90 }, height: 60 + 32 * data.features.length }, config);
  }

  function shares(column) {
    if (!column) { return null; }
    if (column.type === "numeric" && column.histogram) {
      const edges = column.histogram.edges;
      const labels = ["< " + (edges[0] !== undefined ? edges[0].toPrecision(3) : "")];
      for (let i = 1; i < edges.length; i += 1) { labels.push(edges[i - 1].toPrecision(3) + " to " + edges[i].toPrecision(3)); }
      if (edges.length) { labels.push("≥ " + edges[edges.length - 1].toPrecision(3)); }
      return { labels: labels, values: column.histogram.shares };
    }
    if (column.top) {
      const labels = Object.keys(column.top).concat(["other"]);
      return { labels: labels, values: labels.map(function (k) { return k === "other" ? column.other : column.top[k]; }) };
    }
    if (column.shares) {
      const labels = Object.keys(column.shares);
      return { labels: labels, values: labels.map(function (k) { return column.shares[k]; }) };
    }
    return null;
  }

  const select = document.getElementById("feature-select");
  const distribution = document.getElementById("distribution");
  function drawDistribution() {
    const name = select.value;
    const reference = shares(data.reference[name]);
    const current = data.current[name];
    const traces = [];
    if (reference) { traces.push({ type: "bar", name: "reference", x: reference.labels, y: reference.values, marker: { color: "#9aa5b1" } }); }
    if (current) {
      const values = reference ? reference.labels.map(function (label, i) {
        if (current.histogram) { return current.histogram.shares[i]; }
        return current.shares ? (current.shares[label] || 0) : null;
      }) : [];
      traces.push({ type: "bar", name: "latest window", x: reference ? reference.labels : [], y: values, marker: { color: "#2f6fde" } });
    }
    Plotly.react(distribution, traces, { barmode: "group", margin: { t: 10, r: 10, b: 80, l: 50 }, height: 300,
      yaxis: { title: { text: "share" } } }, config);
  }
  if (select && distribution) {
    select.addEventListener("change", drawDistribution);
    drawDistribution();
  }

  const quality = document.getElementById("quality");
  if (quality) {
    const traces = Object.keys(data.quality).map(function (metric) {
      return { type: "scatter", mode: "lines+markers", name: metric, x: times, y: data.quality[metric], connectgaps: false };
    });
    Plotly.newPlot(quality, traces, { margin: { t: 10, r: 10, b: 40, l: 50 }, height: 300 }, config);
  }
})();
