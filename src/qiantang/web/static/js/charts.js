// Renders every element with a data-chart attribute using Apache ECharts (vendored, no CDN).
// The attribute holds a small JSON spec written by the server: {kind: "bar"|"pie"|"line", ...}.
(function () {
  "use strict";
  var FONT = getComputedStyle(document.body).fontFamily;

  function option(spec) {
    var base = { textStyle: { fontFamily: FONT }, tooltip: { trigger: spec.kind === "pie" ? "item" : "axis" },
                 title: spec.title ? { text: spec.title, left: 0, textStyle: { fontSize: 14, fontWeight: 600 } } : undefined,
                 color: ["#0b5394", "#3d85c6", "#6fa8dc", "#e69138", "#6aa84f", "#cc0000", "#674ea7", "#999999"] };
    if (spec.kind === "pie") {
      base.legend = { bottom: 0 };
      base.series = [{ type: "pie", radius: ["40%", "68%"], center: ["50%", "52%"], data: spec.data,
                       label: { formatter: "{b}\n{c} ({d}%)" } }];
      return base;
    }
    var horizontal = !!spec.horizontal;
    var cat = { type: "category", data: spec.categories, axisLabel: { interval: 0, fontSize: 11 } };
    var val = { type: "value", name: spec.unit || "", scale: spec.kind === "line" };
    base.grid = { left: horizontal ? 150 : 50, right: 20, top: 40, bottom: horizontal ? 20 : 40 };
    base.xAxis = horizontal ? val : cat;
    base.yAxis = horizontal ? Object.assign(cat, { inverse: true }) : val;
    if (spec.series.length > 1) { base.legend = { top: 28, left: 0 }; base.grid.top = 80; }
    base.series = spec.series.map(function (s) {
      if (spec.kind === "line") {
        var style = s.style || "solid";
        var line = { name: s.name, type: style === "point" ? "scatter" : "line", data: s.data, connectNulls: true,
                     showSymbol: !!s.symbol, symbolSize: style === "point" ? 14 : 6 };
        if (style === "point") { line.symbol = "pin"; }
        if (style === "dashed" || style === "dotted") { line.lineStyle = { type: style, width: 1.5 }; }
        if (s.labels) {
          line.tooltip = { valueFormatter: null };
          line.data = s.data.map(function (v, i) { return v === null ? null : { value: v, quality: s.labels[i] }; });
        }
        return line;
      }
      return { name: s.name, type: "bar", data: s.data, barMaxWidth: 28,
               label: { show: spec.series.length === 1, position: horizontal ? "right" : "top", fontSize: 11 } };
    });
    return base;
  }

  function renderAll() {
    if (!window.echarts) { return; }
    document.querySelectorAll("[data-chart]").forEach(function (el) {
      if (el.dataset.rendered) { return; }
      var chart = echarts.init(el, null, { renderer: "canvas" });
      chart.setOption(option(JSON.parse(el.dataset.chart)));
      el.dataset.rendered = "1";
      window.addEventListener("resize", function () { chart.resize(); });
    });
  }

  // Charts wait for the CJK font so labels never render as empty boxes.
  var ready = document.fonts && document.fonts.load ? document.fonts.load("14px 'Qiantang CJK'", "钱塘") : Promise.resolve();
  ready.catch(function () {}).then(function () {
    if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", renderAll); } else { renderAll(); }
  });
  document.addEventListener("htmx:afterSwap", renderAll);
})();
