// jetflow ui: while a run is in progress the server marks the page data-live="on"; this fetches the same page
// every two seconds and swaps its content in place (the server renders and escapes it), until no run is left.
// A static copy is never live. No library, nothing from elsewhere.
(function () {
  "use strict";
  var every = 2000;
  function main() { return document.getElementById("main"); }
  function tick() {
    fetch(location.href, { cache: "no-store", credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) { if (!r.ok) { throw new Error("HTTP " + r.status); } return r.text(); })
      .then(function (text) {
        var next = new DOMParser().parseFromString(text, "text/html").getElementById("main");
        if (!next) { return; }
        var cur = main();
        cur.innerHTML = next.innerHTML;
        cur.setAttribute("data-live", next.getAttribute("data-live"));
        document.dispatchEvent(new CustomEvent("jetflow:updated"));
        if (next.getAttribute("data-live") === "on") { setTimeout(tick, every); }
      })
      .catch(function () { setTimeout(tick, every * 3); });
  }
  document.addEventListener("DOMContentLoaded", function () {
    var m = main();
    if (m && m.getAttribute("data-live") === "on" && location.protocol !== "file:") { setTimeout(tick, every); }
  });
})();
