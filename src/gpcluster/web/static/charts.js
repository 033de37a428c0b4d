// Render every chart on the page from its Vega-Lite spec (embedded as JSON next to it). No network.
(function () {
  document.querySelectorAll("div.chart[data-spec]").forEach(function (el) {
    var source = document.getElementById(el.getAttribute("data-spec"));
    if (!source || typeof vegaEmbed === "undefined") { return; }
    var spec = JSON.parse(source.textContent);
    el.setAttribute("role", "img");
    el.setAttribute("aria-label", (spec.title || "Chart") + ". The same figures are in the table below.");
    // The expression interpreter instead of vega's compiler, which needs eval (the CSP forbids it).
    var options = { actions: false, renderer: "svg", ast: true, expr: vega.expressionInterpreter };
    vegaEmbed(el, spec, options).catch(function (err) {
      el.textContent = "The chart could not be drawn; the table below has the same figures.";
      console.error(err);
    });
  });
})();
