// Links the MLflow client prints ("View run at http://host/#/experiments/1/runs/<id>") name
// MLflow's page in the URL fragment, which never reaches the server: the server answers "/"
// with the experiments list and this script, loaded by every page, opens runstone's page for it.
(function () {
  "use strict";
  var hash = window.location.hash;
  if (hash.indexOf("#/") !== 0) return;
  var parts = hash.slice(2).split("?")[0].split("/").filter(Boolean).map(function (part) {
    try { return decodeURIComponent(part); } catch (error) { return part; }
  });
  var enc = encodeURIComponent;
  var target = null;
  if (parts[0] === "experiments" && parts[1]) {
    var experiment = "/ui/experiments/" + enc(parts[1]);
    if (parts[2] === "runs" && parts[3]) target = "/ui/runs/" + enc(parts[3]);
    else if (parts[2] === "traces" && parts[3]) target = "/ui/traces/" + enc(parts[3]);
    else if (parts[2] === "traces") target = experiment + "/traces";
    else target = experiment;
  } else if (parts[0] === "models") {
    if (!parts[1]) target = "/ui/models";
    else if (parts[2] === "versions" && parts[3]) target = "/ui/models/" + enc(parts[1]) + "/versions/" + enc(parts[3]);
    else target = "/ui/models/" + enc(parts[1]);
  }
  if (target) window.location.replace(target);
})();
