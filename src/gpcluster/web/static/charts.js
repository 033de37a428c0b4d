// Render every chart on the page from its Vega-Lite spec (embedded as JSON next to it). No network.
// Each chart's container carries its accessible name (role="img", aria-label) from the server, and a
// link to the table of its figures; following that link opens the table.
(function () {
  document.querySelectorAll("div.chart[data-spec]").forEach(function (el) {
    var source = document.getElementById(el.getAttribute("data-spec"));
    if (!source || typeof vegaEmbed === "undefined") { return; }
    var spec = JSON.parse(source.textContent);
    // The expression interpreter instead of vega's compiler, which needs eval (the CSP forbids it).
    var options = { actions: false, renderer: "svg", ast: true, expr: vega.expressionInterpreter };
    vegaEmbed(el, spec, options).then(function () {
      el.querySelectorAll("svg").forEach(function (svg) { svg.setAttribute("aria-hidden", "true"); });
    }).catch(function (err) {
      el.textContent = "The chart could not be drawn; the table below has the same figures.";
      console.error(err);
    });
  });
  function openTarget() {
    var id = decodeURIComponent(window.location.hash.slice(1));
    var target = id && document.getElementById(id);
    if (target && target.tagName === "DETAILS") { target.open = true; }
  }
  window.addEventListener("hashchange", openTarget);
  openTarget();
})();
