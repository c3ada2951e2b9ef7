// Media in the workspace: for the runs it draws, each image key logged with log_image gets a
// step slider and the runs' images side by side; each table logged with log_table is shown
// sortable (click a column) and filterable (type in the box).
"use strict";

(function () {
  const root = document.querySelector("[data-workspace]");
  if (!root) { return; }
  const holder = root.querySelector("[data-media]");
  const MAX_ROWS = 1000;
  let generation = 0;

  function fetchJSON(url) {
    return fetch(url, { credentials: "same-origin" }).then(function (response) {
      return response.json().then(function (body) {
        if (!response.ok) { throw new Error((body.error && body.error.message) || response.statusText); }
        return body;
      });
    });
  }

  function element(tag, className, text) {
    const e = document.createElement(tag);
    if (className) { e.className = className; }
    if (text !== undefined) { e.textContent = text; }
    return e;
  }

  function section(name, title) {
    const details = element("details", "panel-section");
    details.open = true;
    details.dataset.mediaSection = name;
    details.append(element("summary", "", title), element("div", "media-grid"));
    holder.appendChild(details);
    return details.querySelector(".media-grid");
  }

  // ---- images: one slider over every step any run logged the key at
  function imagePanel(key, byRun, runs) {
    const panel = element("figure", "media-panel");
    panel.dataset.imageKey = key;
    const steps = Array.from(new Set([].concat.apply([], Object.values(byRun).map(function (s) {
      return s.map(function (p) { return p[0]; });
    })))).sort(function (a, b) { return a - b; });
    const caption = element("figcaption", "", key + " ");
    const slider = element("input");
    Object.assign(slider, { type: "range", min: "0", max: String(steps.length - 1), step: "1", value: String(steps.length - 1) });
    slider.setAttribute("aria-label", "Step of " + key);
    const shown = element("output", "muted");
    caption.append(slider, " ", shown);
    const row = element("div", "media-row");
    const cells = runs.filter(function (r) { return byRun[r.id]; }).map(function (r) {
      const cell = element("figure", "media-cell");
      const img = element("img");
      img.loading = "lazy";
      const label = element("figcaption", "muted");
      cell.append(img, label);
      row.appendChild(cell);
      return { run: r, img: img, label: label, steps: byRun[r.id] };
    });
    function show() {
      const step = steps[Number(slider.value)];
      shown.textContent = "step " + step;
      panel.dataset.step = String(step);
      cells.forEach(function (c) {
        // The run's image at the chosen step, or at the last step it logged before it.
        let pick = c.steps[0];
        c.steps.forEach(function (p) { if (p[0] <= step) { pick = p; } });
        const src = "/ui/runs/" + encodeURIComponent(c.run.id) + "/raw?path=" + encodeURIComponent(pick[1]);
        if (c.img.getAttribute("src") !== src) { c.img.src = src; }
        c.img.alt = key + " of " + c.run.name + " at step " + pick[0];
        c.label.textContent = c.run.name + " · step " + pick[0];
      });
    }
    slider.addEventListener("input", show);
    show();
    panel.append(caption, row);
    return panel;
  }

  // ---- tables: sorted by a click on a column, filtered by the text typed
  function tablePanel(path, runIds, runs) {
    const panel = element("figure", "media-panel");
    panel.dataset.table = path;
    const caption = element("figcaption", "", path + " ");
    const names = {};
    runs.forEach(function (r) { names[r.id] = r.name; });
    const pick = element("select");
    pick.setAttribute("aria-label", "Run of the table " + path);
    runIds.forEach(function (id) { const o = element("option", "", names[id] || id); o.value = id; pick.appendChild(o); });
    const filter = element("input");
    Object.assign(filter, { type: "search", placeholder: "Filter rows" });
    filter.setAttribute("aria-label", "Filter the rows of " + path);
    caption.append(pick, " ", filter);
    const note = element("p", "muted");
    const wrap = element("div", "table-wrap media-table");
    panel.append(caption, note, wrap);
    let content = null;
    let sort = { column: -1, ascending: true };

    function compare(a, b) {
      if (a === b) { return 0; }
      if (a === null || a === undefined) { return 1; }
      if (b === null || b === undefined) { return -1; }
      if (typeof a === "number" && typeof b === "number") { return a - b; }
      return String(a).localeCompare(String(b), undefined, { numeric: true });
    }

    function draw() {
      const needle = filter.value.trim().toLowerCase();
      let rows = content.data.filter(function (row) {
        return !needle || row.some(function (v) { return v !== null && String(v).toLowerCase().indexOf(needle) >= 0; });
      });
      if (sort.column >= 0) {
        rows = rows.slice().sort(function (a, b) {
          const c = compare(a[sort.column], b[sort.column]);
          return sort.ascending ? c : -c;
        });
      }
      const table = element("table", "grid");
      const head = table.createTHead().insertRow();
      content.columns.forEach(function (name, i) {
        const th = element("th");
        th.scope = "col";
        const button = element("button", "sort-button", name);
        button.type = "button";
        if (i === sort.column) {
          th.setAttribute("aria-sort", sort.ascending ? "ascending" : "descending");
          button.textContent = name + (sort.ascending ? " ▲" : " ▼");
        }
        button.addEventListener("click", function () {
          sort = { column: i, ascending: sort.column === i ? !sort.ascending : true };
          draw();
        });
        th.appendChild(button);
        head.appendChild(th);
      });
      const body = table.createTBody();
      rows.slice(0, MAX_ROWS).forEach(function (row) {
        const tr = body.insertRow();
        row.forEach(function (v) {
          const td = tr.insertCell();
          td.textContent = v === null || v === undefined ? "" : String(v);
          if (typeof v === "number") { td.className = "num"; }
        });
      });
      wrap.textContent = "";
      wrap.appendChild(table);
      note.textContent = rows.length + " of " + content.data.length + " rows" + (rows.length > MAX_ROWS ? " (the first " + MAX_ROWS + " shown)" : "");
      panel.dataset.rows = String(rows.length);
    }

    function load() {
      panel.dataset.state = "loading";
      fetchJSON("/ui/data/table?run=" + encodeURIComponent(pick.value) + "&path=" + encodeURIComponent(path)).then(function (body) {
        content = body;
        draw();
        panel.dataset.state = "drawn";
      }).catch(function (error) {
        note.textContent = "Could not load this table: " + error.message;
        panel.dataset.state = "error";
      });
    }
    pick.addEventListener("change", load);
    filter.addEventListener("input", function () { if (content) { draw(); } });
    load();
    return panel;
  }

  function render(runs) {
    generation += 1;
    const mine = generation;
    holder.textContent = "";
    holder.hidden = true;
    if (!runs.length) { return; }
    fetchJSON("/ui/data/media?" + runs.map(function (r) { return "run=" + encodeURIComponent(r.id); }).join("&")).then(function (body) {
      if (mine !== generation) { return; }
      const keys = Object.keys(body.images);
      const tables = Object.keys(body.tables);
      if (keys.length) {
        const grid = section("images", "Images (" + keys.length + ")");
        keys.forEach(function (key) { grid.appendChild(imagePanel(key, body.images[key], runs)); });
      }
      if (tables.length) {
        const grid = section("tables", "Tables (" + tables.length + ")");
        tables.forEach(function (path) { grid.appendChild(tablePanel(path, body.tables[path], runs)); });
      }
      holder.hidden = !keys.length && !tables.length;
      root.dataset.media = "ready";
    }).catch(function (error) {
      holder.hidden = false;
      holder.textContent = "Could not list the images and tables: " + error.message;
    });
  }

  // The first charts come first: media are listed once the workspace's first panels are drawn
  // (or after a moment, when it draws none).
  let started = false;
  let waiting = null;
  function start(runs) {
    if (started || root.dataset.firstDrawn) {
      started = true;
      render(runs);
      return;
    }
    if (!waiting) {
      const go = function () {
        if (started) { return; }
        started = true;
        render(waiting);
      };
      root.addEventListener("workspace:drawn", go, { once: true });
      window.setTimeout(go, 3000);
    }
    waiting = runs;
  }

  root.addEventListener("workspace:runs", function (event) { start(event.detail.runs); });
  if (root.drawnRuns) { start(root.drawnRuns); }
})();
