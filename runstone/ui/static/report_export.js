// Draws a report's panels and tables: on the report page from live data (report.js), and in
// its exported HTML file from the data written into it (no network needed).
"use strict";

(function () {
  function color(id) { return window.RunColors ? window.RunColors.color(id) : "#1f77b4"; }

  function drawPanel(element, runs, series) {
    const traces = runs.filter(function (r) { return series[r.id] && series[r.id].steps.length; }).map(function (r) {
      const points = series[r.id];
      return { x: points.steps, y: points.values, type: "scatter", mode: points.steps.length > 1 ? "lines" : "markers",
        name: r.name, meta: r.id, line: { color: color(r.id), width: 1.5 }, marker: { color: color(r.id) },
        hovertemplate: "%{y}<extra>" + r.name.replace(/</g, "&lt;") + "</extra>" };
    });
    const style = getComputedStyle(document.documentElement);
    const line = style.getPropertyValue("--line").trim() || "#d8dde3";
    const layout = { margin: { l: 55, r: 10, t: 8, b: 38 }, height: 300, showlegend: true, legend: { orientation: "h" },
      xaxis: { title: { text: "step" }, gridcolor: line }, yaxis: { gridcolor: line },
      paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)", font: { color: style.getPropertyValue("--fg").trim() || "#1b1f24" } };
    return window.Plotly.newPlot(element.querySelector(".plot"), traces, layout, { displaylogo: false, responsive: true }).then(function () {
      element.dataset.state = "drawn";
      element.dataset.lines = String(traces.length);
    });
  }

  function drawTable(element, columns, runs) {
    const table = document.createElement("table");
    table.className = "grid";
    const head = table.createTHead().insertRow();
    ["Run"].concat(columns).forEach(function (name) {
      const th = document.createElement("th");
      th.scope = "col";
      th.textContent = name;
      head.appendChild(th);
    });
    const body = table.createTBody();
    runs.forEach(function (r) {
      const row = body.insertRow();
      row.insertCell().textContent = r.name;
      columns.forEach(function (c) {
        const v = r.values[c];
        const cell = row.insertCell();
        cell.textContent = v === null || v === undefined ? "" : String(typeof v === "number" ? Number(v.toPrecision(6)) : v);
        if (typeof v === "number") { cell.className = "num"; }
      });
    });
    const wrap = element.querySelector(".table-wrap");
    wrap.textContent = "";
    wrap.appendChild(table);
    element.dataset.state = "drawn";
    element.dataset.rows = String(runs.length);
  }

  window.ReportDraw = { panel: drawPanel, table: drawTable };

  // In an exported file: the data is in the page.
  const embedded = document.getElementById("report-data");
  if (embedded) {
    const data = JSON.parse(embedded.textContent);
    const elements = document.querySelectorAll("[data-report-panel], [data-report-table]");
    data.forEach(function (item, i) {
      if (item.kind === "panel") { drawPanel(elements[i], item.runs, item.series); } else { drawTable(elements[i], item.columns, item.runs); }
    });
  }
})();
