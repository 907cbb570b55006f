// Renders every element with a data-chart attribute using Apache ECharts (vendored, no CDN).
// The attribute holds a small JSON spec written by the server: {kind: "bar"|"pie"|"line", ...}.
(function () {
  "use strict";
  var FONT = getComputedStyle(document.body).fontFamily;

  function option(spec) {
    var base = { textStyle: { fontFamily: FONT }, tooltip: { trigger: spec.kind === "pie" ? "item" : "axis" },
                 title: spec.title ? { text: spec.title, left: 0, textStyle: { fontSize: 14, fontWeight: 600 } } : undefined,
                 color: ["#0b5394", "#3d85c6", "#6fa8dc", "#e69138", "#6aa84f", "#cc0000", "#674ea7", "#999999"] };
    if (EXTRA[spec.kind]) { return EXTRA[spec.kind](spec, base); }
    if (spec.kind === "pie") {
      base.legend = { bottom: 0 };
      base.series = [{ type: "pie", radius: ["40%", "68%"], center: ["50%", "52%"], data: spec.data,
                       label: { formatter: "{b}\n{c} ({d}%)" } }];
      return base;
    }
    var horizontal = !!spec.horizontal;
    // Every category keeps its label: long ones wrap within their slot instead of being dropped.
    var slot = Math.max(40, ((spec._width || 600) - 70) / Math.max(1, (spec.categories || []).length) - 6);
    var cat = { type: "category", data: spec.categories,
                axisLabel: horizontal ? { interval: 0, fontSize: 11, width: 140, overflow: "truncate" }
                                      : { interval: 0, fontSize: 11, width: slot, overflow: "break" } };
    var val = { type: "value", name: spec.unit || "", scale: spec.kind === "line" };
    // Title, then legend, then the value axis's unit name: each gets its own band so none overlaps.
    var top = spec.title ? 36 : 4;
    if (spec.series.length > 1) { base.legend = { top: top, left: 0 }; top += 28; }
    base.grid = { left: horizontal ? 150 : 50, right: 20, top: top + (spec.unit && !horizontal ? 36 : 16),
                  bottom: horizontal ? 20 : 52 };
    base.xAxis = horizontal ? val : cat;
    base.yAxis = horizontal ? Object.assign(cat, { inverse: true }) : val;
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

  // Kinds added by the early-warning module: heatmap, score (rating history), indicator (value, peer
  // band p25–p75, median, limit lines). They leave the kinds above untouched.
  var LEVEL_COLOURS = { red: "#d93025", orange: "#f29900", yellow: "#f6d32d", green: "#34a853" };
  var EXTRA = {
    heatmap: function (spec, base) {
      base.tooltip = { trigger: "item", formatter: function (p) {
        var d = p.data || {};
        return (spec.y[d.value[1]] || "") + " · " + (spec.x[d.value[0]] || "") + "<br>" +
          (spec.labels ? spec.labels.total : "") + " " + d.value[2] +
          (d.red !== undefined ? "<br>" + spec.labels.red + " " + d.red + " · " + spec.labels.orange + " " + d.orange +
            " · " + spec.labels.yellow + " " + d.yellow : "");
      } };
      base.grid = { left: 130, right: 20, top: spec.title ? 40 : 10, bottom: 90 };
      base.xAxis = { type: "category", data: spec.x, splitArea: { show: true }, axisLabel: { interval: 0, rotate: 40, fontSize: 11 } };
      base.yAxis = { type: "category", data: spec.y, splitArea: { show: true }, axisLabel: { fontSize: 11 } };
      base.visualMap = { min: 0, max: Math.max(spec.max || 1, 1), calculable: true, orient: "horizontal", left: "center", bottom: 0,
                         itemHeight: 120, inRange: { color: ["#fff8e1", "#f6d32d", "#f29900", "#d93025"] } };
      base.series = [{ type: "heatmap", data: spec.data.map(function (c) {
        return { value: [c[0], c[1], c[2]], red: c[3], orange: c[4], yellow: c[5] };
      }), label: { show: true, fontSize: 11 }, emphasis: { itemStyle: { shadowBlur: 6, shadowColor: "rgba(0,0,0,0.3)" } } }];
      return base;
    },
    levels: function (spec, base) {
      base.tooltip = { trigger: "axis" };
      base.legend = { top: 0, left: 0 };
      base.grid = { left: 50, right: 20, top: 56, bottom: 40 };
      base.xAxis = { type: "category", data: spec.categories, axisLabel: { fontSize: 10 } };
      base.yAxis = { type: "value", name: spec.unit || "" };
      base.series = spec.series.map(function (s) {
        return { name: s.name, type: "bar", stack: "levels", data: s.data, barMaxWidth: 24,
                 itemStyle: { color: LEVEL_COLOURS[s.level] || undefined } };
      });
      return base;
    },
    score: function (spec, base) {
      base.tooltip = { trigger: "axis" };
      base.grid = { left: 50, right: 20, top: spec.title ? 40 : 16, bottom: 40 };
      base.xAxis = { type: "category", data: spec.categories, axisLabel: { fontSize: 11 } };
      base.yAxis = { type: "value", min: 0, max: 100, name: spec.unit || "" };
      var bands = (spec.bands || []).map(function (b) {
        return [{ yAxis: b.from, itemStyle: { color: LEVEL_COLOURS[b.level], opacity: 0.12 } }, { yAxis: b.to }];
      });
      base.series = [{ name: spec.name || "", type: "line", data: spec.data.map(function (v, i) {
        var lv = spec.levels ? spec.levels[i] : null;
        return { value: v, itemStyle: lv ? { color: LEVEL_COLOURS[lv] } : undefined };
      }), showSymbol: true, symbolSize: 7, lineStyle: { color: "#0b5394" }, connectNulls: false,
      markArea: { silent: true, data: bands } }];
      if (spec.pd) {
        base.yAxis = [base.yAxis, { type: "value", min: 0, max: 1, name: "PD", position: "right" }];
        base.legend = { bottom: 0, left: "center" };
        base.grid.bottom = 56;
        base.series.push({ name: spec.pd_name || "PD", type: "line", yAxisIndex: 1, data: spec.pd, connectNulls: false,
                           showSymbol: false, lineStyle: { type: "dashed", color: "#674ea7" } });
      }
      return base;
    },
    indicator: function (spec, base) {
      base.tooltip = { trigger: "axis" };
      // A plain legend wraps onto as many lines as it needs (a scrolling one shows "1/2" and cuts names);
      // the plot leaves room for two items a line, long names shortened with their full text on hover.
      var entries = (spec.p25 ? 2 : 0) + 1 + (spec.limits || []).length;
      var half = Math.max(80, (spec._width || 400) / 2 - 40);
      base.legend = { type: "plain", bottom: 0, left: 0, right: 0, itemWidth: 14, itemGap: 8, tooltip: { show: true },
                      textStyle: { fontSize: 10, width: half, overflow: "truncate" } };
      base.grid = { left: 56, right: 16, top: spec.title ? 52 : 28, bottom: 36 + 16 * Math.ceil(entries / 2) };
      base.xAxis = { type: "category", data: spec.categories, axisLabel: { fontSize: 10 } };
      base.yAxis = { type: "value", scale: true };
      var series = [];
      if (spec.p25) {
        var width = spec.p75.map(function (v, i) { return (v === null || spec.p25[i] === null) ? null : v - spec.p25[i]; });
        series.push({ name: "_p25", type: "line", data: spec.p25, stack: "band", lineStyle: { opacity: 0 },
                      symbol: "none", tooltip: { show: false }, legendHoverLink: false, silent: true });
        series.push({ name: spec.band_name, type: "line", data: width, stack: "band", lineStyle: { opacity: 0 },
                      symbol: "none", areaStyle: { color: "#9fc5e8", opacity: 0.45 }, silent: true });
        series.push({ name: spec.median_name, type: "line", data: spec.median, symbol: "none",
                      lineStyle: { type: "dashed", width: 1, color: "#6fa8dc" } });
      }
      series.push({ name: spec.name, type: "line", data: spec.value, showSymbol: true, symbolSize: 5,
                    lineStyle: { width: 2, color: "#0b5394" }, itemStyle: { color: "#0b5394" }, connectNulls: false });
      (spec.limits || []).forEach(function (l) {
        series.push({ name: l.name, type: "line", data: l.data, step: "middle", symbol: "none", connectNulls: false,
                      lineStyle: { type: "dashed", width: 1.5, color: "#d93025" }, itemStyle: { color: "#d93025" } });
      });
      base.series = series;
      base.legend.data = series.filter(function (s) { return s.name !== "_p25"; }).map(function (s) { return s.name; });
      base.tooltip.formatter = function (items) {
        var rows = items.filter(function (it) { return it.seriesName !== "_p25" && it.value !== null && it.value !== undefined; });
        var head = items.length ? items[0].axisValueLabel : "";
        return head + rows.map(function (it) {
          var v = it.value;
          if (it.seriesName === spec.band_name && spec.p25) {
            var lo = spec.p25[it.dataIndex];
            return "<br>" + it.marker + it.seriesName + " " + lo + " – " + (lo + v).toFixed(2);
          }
          return "<br>" + it.marker + it.seriesName + " " + v;
        }).join("");
      };
      return base;
    }
  };

  function renderAll() {
    if (!window.echarts) { return; }
    document.querySelectorAll("[data-chart]").forEach(function (el) {
      if (el.dataset.rendered) { return; }
      var chart = echarts.init(el, null, { renderer: "canvas" });
      var spec = JSON.parse(el.dataset.chart);
      spec._width = el.clientWidth;
      chart.setOption(option(spec));
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
