// Parameter importance in the workspace: for a chosen metric, each param's correlation with it
// and its importance in a random forest, computed on the server over the table's runs.
"use strict";

(function () {
  const root = document.querySelector("[data-workspace]");
  if (!root) { return; }
  const holder = root.querySelector("[data-importance]");
  const select = holder.querySelector("select");
  const output = holder.querySelector("[data-importance-table]");
  const note = holder.querySelector("[data-importance-note]");
  const store = "runstone.importance-metric." + root.dataset.experiment;
  let generation = 0;

  function bar(share, signed) {
    const outer = document.createElement("span");
    outer.className = "bar" + (signed && share < 0 ? " negative" : "");
    const inner = document.createElement("span");
    inner.style.width = Math.round(Math.min(1, Math.abs(share)) * 100) + "%";
    outer.appendChild(inner);
    return outer;
  }

  function show(body) {
    output.textContent = "";
    note.textContent = body.runs + " runs with " + body.metric + "." + (body.model_message ? " " + body.model_message : "");
    if (!body.params.length) { note.textContent += " No param varies across them."; return; }
    const table = document.createElement("table");
    table.className = "grid importance";
    const head = table.createTHead().insertRow();
    ["Param", "Importance", "Correlation", "Runs"].forEach(function (name) {
      const th = document.createElement("th");
      th.scope = "col";
      th.textContent = name;
      head.appendChild(th);
    });
    const rows = table.createTBody();
    body.params.forEach(function (p) {
      const row = rows.insertRow();
      row.dataset.param = p.param;
      row.insertCell().textContent = p.param;
      const imp = row.insertCell();
      if (p.importance !== null) { imp.append(bar(p.importance, false), " " + p.importance.toFixed(3)); }
      const corr = row.insertCell();
      if (p.correlation !== null) { corr.append(bar(p.correlation, true), " " + p.correlation.toFixed(3)); } else { corr.textContent = p.numeric ? "" : "not a number"; corr.className = "muted"; }
      const count = row.insertCell();
      count.className = "num";
      count.textContent = String(p.runs);
    });
    output.appendChild(table);
  }

  function compute() {
    if (!select.value) { return; }
    generation += 1;
    const mine = generation;
    try { window.localStorage.setItem(store, select.value); } catch (e) { /* private mode */ }
    const page = new URLSearchParams(window.location.search);
    const query = new URLSearchParams({ experiment: root.dataset.experiment, metric: select.value });
    ["filter", "view"].forEach(function (name) { if (page.get(name)) { query.set(name, page.get(name)); } });
    holder.dataset.state = "loading";
    fetch("/ui/data/importance?" + query.toString(), { credentials: "same-origin" }).then(function (response) {
      return response.json().then(function (body) {
        if (!response.ok) { throw new Error((body.error && body.error.message) || response.statusText); }
        return body;
      });
    }).then(function (body) {
      if (mine !== generation) { return; }
      show(body);
      holder.dataset.state = "drawn";
    }).catch(function (error) {
      note.textContent = "Could not compute the importance: " + error.message;
      holder.dataset.state = "error";
    });
  }

  function offer(keys) {
    const chosen = select.value || window.localStorage.getItem(store) || keys.find(function (k) { return /loss|error/i.test(k); }) || keys[0];
    select.textContent = "";
    keys.forEach(function (k) {
      const option = document.createElement("option");
      option.value = option.textContent = k;
      select.appendChild(option);
    });
    holder.hidden = !keys.length;
    if (keys.indexOf(chosen) >= 0) { select.value = chosen; }
    // Computed when opened: a forest over 1,000 runs is worth a click, not every page load.
    if (holder.open) { compute(); }
  }

  select.addEventListener("change", compute);
  holder.addEventListener("toggle", function () { if (holder.open && holder.dataset.state !== "drawn") { compute(); } });
  root.addEventListener("workspace:keys", function (event) { offer(event.detail.keys); });
  if (root.metricKeys) { offer(root.metricKeys); }
})();
