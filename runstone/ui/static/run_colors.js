// One colour per run, the same in the runs table, the workspace, compare and every chart, and
// on every visit: a hash of the run id picks it from a palette (runstone/ui/colors.py does the
// same on the server). A colour the user pinned is kept in this browser's localStorage.
"use strict";

(function () {
  const PALETTE = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
    "#393b79", "#843c39", "#e7ba52", "#7b4173", "#006d2c", "#fd8d3c", "#9edae5", "#de9ed6", "#5ab4ac", "#8c6d31",
  ];
  const STORE = "runstone.run-colors";
  const HEX = /^[0-9a-fA-F]{8}/;
  const listeners = [];

  function pinned() {
    try { return JSON.parse(window.localStorage.getItem(STORE) || "{}") || {}; } catch (e) { return {}; }
  }

  function hashed(id) {
    let number = 0;
    if (HEX.test(id)) {
      number = parseInt(id.slice(0, 8), 16);
    } else {
      for (let i = 0; i < id.length; i += 1) { number = (number * 31 + id.charCodeAt(i)) % 4294967296; }
    }
    return PALETTE[number % PALETTE.length];
  }

  function color(id) { return pinned()[id] || hashed(id); }

  function apply(root) {
    (root || document).querySelectorAll("[data-run-color]").forEach(function (element) {
      const value = color(element.dataset.runColor);
      if (element.tagName === "INPUT") { element.value = value; } else { element.style.background = value; }
    });
  }

  function save(all) {
    try { window.localStorage.setItem(STORE, JSON.stringify(all)); } catch (e) { /* private mode: no memory */ }
    apply();
    listeners.forEach(function (f) { f(); });
  }

  function pin(id, value) {
    const all = pinned();
    all[id] = value;
    save(all);
  }

  function unpin(id) {
    const all = pinned();
    delete all[id];
    save(all);
  }

  window.RunColors = {
    color: color, hashed: hashed, pin: pin, unpin: unpin, apply: apply,
    isPinned: function (id) { return Boolean(pinned()[id]); },
    onChange: function (f) { listeners.push(f); },
  };
  window.addEventListener("storage", function (event) {
    if (event.key === STORE) { apply(); listeners.forEach(function (f) { f(); }); }
  });
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { apply(); });
  } else {
    apply();
  }
})();
