// Keyboard shortcuts of the experiment page: j / k move to the next / previous run, x ticks it,
// h hides it from the charts (or shows it again), o opens it, / focuses the filter, w jumps to
// the workspace and ? lists them. Keys typed into a box are left alone.
"use strict";

(function () {
  const form = document.getElementById("runs-form");
  if (!form) { return; }
  const KEYS = [
    ["j", "next run"], ["k", "previous run"], ["x", "tick or untick the run"], ["h", "hide the run from the charts, or show it"],
    ["o", "open the run"], ["/", "focus the filter"], ["w", "go to the workspace"], ["?", "show these shortcuts"],
  ];
  let current = -1;

  function rows() { return Array.from(form.querySelectorAll("tr[data-run]")); }

  function move(by) {
    const all = rows();
    if (!all.length) { return; }
    all.forEach(function (r) { r.classList.remove("kb-current"); r.removeAttribute("aria-current"); });
    current = Math.max(0, Math.min(all.length - 1, current + by));
    const row = all[current];
    row.classList.add("kb-current");
    row.setAttribute("aria-current", "true");
    row.scrollIntoView({ block: "nearest" });
  }

  function help() {
    let box = document.getElementById("shortcuts-help");
    if (box) { box.hidden = !box.hidden; return; }
    box = document.createElement("div");
    box.id = "shortcuts-help";
    box.className = "shortcuts-help";
    box.setAttribute("role", "dialog");
    box.setAttribute("aria-label", "Keyboard shortcuts");
    const list = document.createElement("dl");
    KEYS.forEach(function (pair) {
      const key = document.createElement("dt");
      const kbd = document.createElement("kbd");
      kbd.textContent = pair[0];
      key.appendChild(kbd);
      const what = document.createElement("dd");
      what.textContent = pair[1];
      list.append(key, what);
    });
    const close = document.createElement("button");
    close.type = "button";
    close.textContent = "Close";
    close.addEventListener("click", function () { box.hidden = true; });
    box.append(list, close);
    document.body.appendChild(box);
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || event.defaultPrevented) { return; }
    const target = event.target;
    if (target.closest && target.closest("input, textarea, select, [contenteditable]")) {
      if (event.key === "Escape") { target.blur(); }
      return;
    }
    const row = rows()[current];
    switch (event.key) {
      case "j": move(1); break;
      case "k": move(current < 0 ? 1 : -1); break;
      case "x":
        if (!row) { return; }
        row.querySelector("input[name=run]").click();
        break;
      case "h":
        if (!row || !row.querySelector("[data-eye]")) { return; }
        row.querySelector("[data-eye]").click();
        break;
      case "o":
      case "Enter":
        if (!row) { return; }
        window.location.href = row.querySelector('td.name a[href^="/ui/runs/"]').href;
        break;
      case "/": {
        const filter = document.getElementById("filter");
        if (filter) { filter.focus(); filter.select(); }
        break;
      }
      case "w": {
        const workspace = document.getElementById("workspace");
        if (workspace) { workspace.scrollIntoView(); }
        break;
      }
      case "?": help(); break;
      default: return;
    }
    event.preventDefault();
  });
})();
