// A report's live panels and tables: each reads its experiment's most recent runs and draws
// them (report_export.js draws), through the same data routes as the workspace.
"use strict";

(function () {
  const root = document.querySelector("[data-report]");
  if (!root) { return; }

  function fetchJSON(url) {
    return fetch(url, { credentials: "same-origin" }).then(function (response) {
      return response.json().then(function (body) {
        if (!response.ok) { throw new Error((body.error && body.error.message) || response.statusText); }
        return body;
      });
    });
  }

  function runsOf(element, columns) {
    const query = new URLSearchParams({ experiment: element.dataset.experiment, runs: element.dataset.runs });
    columns.forEach(function (c) { query.append("col", c); });
    return fetchJSON("/ui/data/experiment-runs?" + query.toString()).then(function (body) { return body.runs; });
  }

  function fail(element, error) {
    element.dataset.state = "error";
    const message = document.createElement("p");
    message.className = "chart-error";
    message.setAttribute("role", "alert");
    message.textContent = "Could not load this part of the report: " + error.message;
    element.appendChild(message);
  }

  let plotly = null;
  function loadPlotly() {
    if (!plotly) {
      plotly = window.Plotly ? Promise.resolve() : new Promise(function (resolve, reject) {
        const script = document.createElement("script");
        script.src = root.dataset.plotly;
        script.onload = resolve;
        script.onerror = function () { reject(new Error("could not load plotly.js")); };
        document.head.appendChild(script);
      });
    }
    return plotly;
  }

  root.querySelectorAll("[data-report-panel]").forEach(function (element) {
    const key = element.dataset.key;
    runsOf(element, []).then(function (runs) {
      if (!runs.length) { return [runs, { keys: {} }]; }
      const query = new URLSearchParams({ max_points: "500" });
      runs.forEach(function (r) { query.append("run", r.id); });
      query.append("key", key);
      return Promise.all([runs, fetchJSON("/ui/data/history-grid?" + query.toString()), loadPlotly()]);
    }).then(function (answers) {
      return window.ReportDraw.panel(element, answers[0], answers[1].keys[key] || {});
    }).catch(function (error) { fail(element, error); });
  });
  // Attached run and model version pages: their name and status, read now.
  root.querySelectorAll("[data-report-run]").forEach(function (card) {
    fetchJSON("/api/v1/runs/" + encodeURIComponent(card.dataset.reportRun)).then(function (body) {
      const run = body.run;
      card.querySelector("[data-name]").textContent = run.info.run_name;
      const values = run.data.metrics || {};
      const metrics = Object.keys(values).sort().slice(0, 4).map(function (k) { return k + " " + Number(Number(values[k]).toPrecision(4)); });
      card.querySelector("[data-facts]").textContent = run.info.status + (metrics.length ? " · " + metrics.join(", ") : "");
      card.dataset.state = "drawn";
    }).catch(function (error) { card.querySelector("[data-facts]").textContent = error.message; card.dataset.state = "error"; });
  });
  root.querySelectorAll("[data-report-model]").forEach(function (card) {
    fetchJSON("/api/v1/registered-models/" + encodeURIComponent(card.dataset.reportModel) + "/versions/" + encodeURIComponent(card.dataset.version)).then(function (body) {
      const v = body.model_version;
      card.querySelector("[data-facts]").textContent = (v.current_stage || "") + (v.aliases && v.aliases.length ? " · @" + v.aliases.join(", @") : "") + " · " + (v.status || "");
      card.dataset.state = "drawn";
    }).catch(function (error) { card.querySelector("[data-facts]").textContent = error.message; card.dataset.state = "error"; });
  });
  root.querySelectorAll("[data-report-table]").forEach(function (element) {
    const columns = element.dataset.columns ? element.dataset.columns.split(",") : [];
    runsOf(element, columns).then(function (runs) { window.ReportDraw.table(element, columns, runs); })
      .catch(function (error) { fail(element, error); });
  });
})();
