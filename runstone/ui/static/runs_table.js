// The runs table: a selection that lives across pages and the Back button, nested runs unfolded
// in place, the elapsed time of running runs, and the direction each column was last sorted in.
// The table works without this file (one page's selection, nested runs as a filtered list).
"use strict";

(function () {
  const form = document.getElementById("runs-form");
  const wrap = document.querySelector(".runs-wrap");
  if (!form || !wrap) { return; }
  const experiment = wrap.dataset.experiment;
  const selectionKey = "runstone.selection." + experiment;
  const pendingKey = "runstone.selection-pending." + experiment;
  const unfoldedKey = "runstone.unfolded." + experiment;
  const sortKey = "runstone.sort-direction";
  const label = form.querySelector("[data-selection]");
  const all = form.querySelector("[data-select-all]");
  const clear = form.querySelector("[data-clear-selection]");

  function load(storage, key) {
    try { return JSON.parse(storage.getItem(key) || "[]"); } catch (e) { return []; }
  }
  function save(storage, key, value) {
    try { storage.setItem(key, JSON.stringify(value)); } catch (e) { /* private mode: no memory */ }
  }

  // ---- selection: the ticked run ids of this experiment, in the order they were ticked
  let selected = load(window.sessionStorage, selectionKey);

  // After an action that succeeded (delete, move, tag...), its runs are no longer selected.
  if (window.sessionStorage.getItem(pendingKey)) {
    window.sessionStorage.removeItem(pendingKey);
    if (document.querySelector(".flash-ok")) {
      selected = [];
      save(window.sessionStorage, selectionKey, selected);
    }
  }

  function boxes() { return Array.from(form.querySelectorAll("input[name=run][type=checkbox]")); }

  function show() {
    const onPage = boxes();
    const ticked = onPage.filter(function (b) { return b.checked; }).length;
    const total = selected.length;
    if (!total) {
      label.textContent = "Select runs for these actions:";
    } else if (total === ticked) {
      label.textContent = total + " selected:";
    } else {
      label.textContent = total + " selected (" + ticked + " on this page):";
    }
    if (all) {
      all.checked = ticked > 0 && ticked === onPage.length;
      all.indeterminate = ticked > 0 && ticked < onPage.length;
    }
    if (clear) { clear.hidden = total === 0; }
    form.classList.toggle("has-selection", total > 0);
  }

  // The ticks follow the stored selection: on load, on Back (from the page cache or not), and
  // when another tab or page changed it.
  function sync() {
    selected = load(window.sessionStorage, selectionKey);
    const chosen = new Set(selected);
    boxes().forEach(function (b) { b.checked = chosen.has(b.value); });
    show();
  }

  function tick(box) {
    const at = selected.indexOf(box.value);
    if (box.checked && at < 0) { selected.push(box.value); }
    if (!box.checked && at >= 0) { selected.splice(at, 1); }
  }

  form.addEventListener("change", function (event) {
    const box = event.target;
    if (box === all) {
      boxes().forEach(function (b) { b.checked = all.checked; tick(b); });
    } else if (box.name === "run") {
      tick(box);
    } else {
      return;
    }
    save(window.sessionStorage, selectionKey, selected);
    show();
  });
  if (all) { all.hidden = false; }
  if (clear) {
    clear.addEventListener("click", function () {
      selected = [];
      save(window.sessionStorage, selectionKey, selected);
      sync();
    });
  }

  // An action applies to the whole selection, ticked on this page or others.
  form.addEventListener("submit", function (event) {
    if (event.defaultPrevented) { return; }
    form.querySelectorAll("input[data-off-page]").forEach(function (i) { i.remove(); });
    const here = new Set(boxes().map(function (b) { return b.value; }));
    selected.forEach(function (id) {
      if (!here.has(id)) {
        const input = document.createElement("input");
        input.type = "hidden";
        input.name = "run";
        input.value = id;
        input.dataset.offPage = "";
        form.appendChild(input);
      }
    });
    const action = event.submitter ? event.submitter.value : "";
    if (action && action !== "compare") { window.sessionStorage.setItem(pendingKey, "1"); }
  });

  window.addEventListener("pageshow", sync);
  window.addEventListener("storage", function (event) { if (event.key === selectionKey) { sync(); } });

  // ---- nested runs: unfolded on demand, one level at a time, remembered for this tab
  let unfolded = load(window.sessionStorage, unfoldedKey);

  function removeUnder(runId) {
    wrap.querySelectorAll('tr[data-parent="' + runId + '"]').forEach(function (r) {
      removeUnder(r.dataset.run);
      r.remove();
    });
    wrap.querySelectorAll('tr[data-more="' + runId + '"]').forEach(function (r) { r.remove(); });
  }

  function setUnfolded(runId, open) {
    const at = unfolded.indexOf(runId);
    if (open && at < 0) { unfolded.push(runId); }
    if (!open && at >= 0) { unfolded.splice(at, 1); }
    save(window.sessionStorage, unfoldedKey, unfolded);
  }

  function unfold(button) {
    const runId = button.dataset.unfold;
    const row = button.closest("tr");
    const name = row.querySelector("td.name > a:not(.kids)").textContent;
    const count = row.querySelector(".kids").textContent;
    if (button.getAttribute("aria-expanded") === "true") {
      removeUnder(runId);
      button.setAttribute("aria-expanded", "false");
      button.setAttribute("aria-label", "Show the " + count + " of " + name);
      button.textContent = "▸";
      setUnfolded(runId, false);
      return Promise.resolve();
    }
    button.disabled = true;
    const url = wrap.dataset.children + "&parent=" + encodeURIComponent(runId) + "&depth=" + (Number(row.dataset.depth) + 1);
    return fetch(url, { credentials: "same-origin" }).then(function (response) {
      if (!response.ok) { throw new Error(response.statusText); }
      return response.text();
    }).then(function (html) {
      row.insertAdjacentHTML("afterend", html);
      button.setAttribute("aria-expanded", "true");
      button.setAttribute("aria-label", "Hide the " + count + " of " + name);
      button.textContent = "▾";
      setUnfolded(runId, true);
      wire(row.parentElement);
      sync();
    }).catch(function () {
      button.title = "Could not load the nested runs; try again.";
    }).finally(function () {
      button.disabled = false;
    });
  }

  function wire(root) {
    root.querySelectorAll("button[data-unfold]").forEach(function (button) {
      if (button.dataset.wired) { return; }
      button.dataset.wired = "1";
      button.hidden = false;
      button.addEventListener("click", function () { unfold(button); });
      if (unfolded.indexOf(button.dataset.unfold) >= 0) { unfold(button); }
    });
    tickElapsed(root);
  }

  // ---- running runs: their elapsed time keeps counting
  function seconds(total) {
    if (total < 1) { return Math.round(total * 1000) + " ms"; }
    if (total < 60) { return total.toFixed(1) + " s"; }
    let minutes = Math.floor(total / 60);
    const secs = Math.floor(total) % 60;
    if (minutes < 60) { return minutes + " min " + secs + " s"; }
    let hours = Math.floor(minutes / 60);
    minutes %= 60;
    if (hours < 24) { return hours + " h " + minutes + " min"; }
    const days = Math.floor(hours / 24);
    hours %= 24;
    return days + " d " + hours + " h";
  }

  let ticking = false;
  function tickElapsed(root) {
    const now = Date.now();
    const spans = (root || wrap).querySelectorAll(".elapsed[data-since]");
    spans.forEach(function (span) {
      span.textContent = seconds(Math.max(0, now - Number(span.dataset.since)) / 1000);
    });
    // Once a running run is on screen (on the page or unfolded later), count every second.
    if (spans.length && !ticking) {
      ticking = true;
      window.setInterval(function () { tickElapsed(wrap); }, 1000);
    }
  }

  // ---- sorting: a column's first click sorts the way it was sorted last
  let directions = {};
  try { directions = JSON.parse(window.localStorage.getItem(sortKey) || "{}"); } catch (e) { directions = {}; }
  wrap.querySelectorAll("thead th[data-sort]").forEach(function (th) {
    const link = th.querySelector("a");
    if (!link) { return; }
    const url = new URL(link.href);
    const order = url.searchParams.get("order") || "";
    const field = th.dataset.sort;
    if (!th.hasAttribute("aria-sort") && directions[field] && order.indexOf(field + " ") === 0) {
      url.searchParams.set("order", field + " " + directions[field]);
      link.href = url.pathname + url.search;
    }
    link.addEventListener("click", function () {
      const chosen = (new URL(link.href).searchParams.get("order") || "").slice(field.length + 1);
      if (chosen === "ASC" || chosen === "DESC") {
        directions[field] = chosen;
        try { window.localStorage.setItem(sortKey, JSON.stringify(directions)); } catch (e) { /* no memory */ }
      }
    });
  });

  wire(wrap);
  sync();
})();
