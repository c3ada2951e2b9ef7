// Progressive enhancements of the server-rendered pages. Every page works without this file.
"use strict";

(function () {
  // Forms and buttons that ask before they act.
  document.addEventListener("submit", function (event) {
    const form = event.target;
    const button = event.submitter;
    const message = (button && button.dataset.confirm) || form.dataset.confirm;
    if (message && !window.confirm(message)) {
      event.preventDefault();
    }
  });

  // Links that declare a key (the run page's newer and older runs: k and j) follow it, unless
  // the key is typed into a box.
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || event.defaultPrevented) { return; }
    if (event.target.closest && event.target.closest("input, textarea, select, [contenteditable]")) { return; }
    if (!/^[a-z]$/.test(event.key)) { return; }
    const link = document.querySelector('a[data-key-shortcut="' + event.key + '"]');
    if (link) { event.preventDefault(); window.location.href = link.href; }
  });

  // Selects that apply themselves: no extra click on the button next to them.
  document.querySelectorAll("[data-autosubmit]").forEach(function (input) {
    const form = input.form;
    form.querySelectorAll("[data-autosubmit-button]").forEach(function (b) { b.hidden = true; });
    input.addEventListener("change", function () { form.requestSubmit(); });
  });

  // Column picker: fetched when opened (listing every key costs more than the table itself),
  // then filtered as you type.
  function wirePicker(form) {
    const search = form.querySelector(".picker-search");
    if (!search) { return; }
    search.hidden = false;
    const picks = Array.from(form.querySelectorAll(".pick"));
    search.addEventListener("input", function () {
      const needle = search.value.trim().toLowerCase();
      picks.forEach(function (label) {
        const text = label.textContent.toLowerCase();
        const checked = label.querySelector("input").checked;
        label.hidden = needle !== "" && !text.includes(needle) && !checked;
      });
    });
  }
  document.querySelectorAll(".picker-form").forEach(wirePicker);
  document.querySelectorAll("details[data-picker]").forEach(function (details) {
    let loaded = false;
    details.addEventListener("toggle", function () {
      if (!details.open || loaded) { return; }
      loaded = true;
      const body = details.querySelector(".picker-body");
      body.setAttribute("aria-busy", "true");
      fetch(details.dataset.picker, { credentials: "same-origin" }).then(function (response) {
        if (!response.ok) { throw new Error(response.statusText); }
        return response.text();
      }).then(function (html) {
        body.innerHTML = html;
        body.removeAttribute("aria-busy");
        const form = body.querySelector(".picker-form");
        wirePicker(form);
        const search = form.querySelector(".picker-search");
        if (search) { search.focus(); }
      }).catch(function () {
        loaded = false;
        body.removeAttribute("aria-busy");
      });
    });
  });
})();
