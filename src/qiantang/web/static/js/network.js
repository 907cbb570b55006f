// Draws a graph (nodes and links from the element's data-graph attribute) with ECharts: the guarantee
// graphs of the network pages, and the links graph of a firm's fundraising risk page.
// Optional in the spec: "categories" [{name, colour, symbol}] (a legend; a node names its category by
// index), "directed": false (no arrows), "force" (the layout's settings), "fit": true (once laid out, the
// graph is centred and zoomed to fill its box, labels included); per node "lines" (tooltip lines), "href"
// (opened on a double-click), "symbol"; per link "tip" (its tooltip).
(function () {
  "use strict";
  function esc(s) { return echarts.format.encodeHTML(String(s === null || s === undefined ? "" : s)); }
  function draw(el) {
    var spec = JSON.parse(el.dataset.graph);
    var chart = echarts.init(el, null, { renderer: "canvas" });
    var font = getComputedStyle(document.body).fontFamily;
    var few = spec.nodes.length <= 30;
    var cats = spec.categories || null;
    var force = spec.force || (few ? { repulsion: 450, edgeLength: [80, 160], gravity: 0.12, layoutAnimation: false }
                               : { repulsion: 120, edgeLength: [30, 90], gravity: 0.08 });
    if (spec.fit) { force.layoutAnimation = false; }  // laid out at once, so that it can be fitted
    chart.setOption({
      textStyle: { fontFamily: font },
      legend: cats ? [{ top: 0, left: 0, itemWidth: 12, itemHeight: 10, textStyle: { fontSize: 11 },
                        data: cats.map(function (c) { return c.name; }) }] : undefined,
      tooltip: {
        formatter: function (p) {
          var words = spec.labels || {};
          if (p.dataType === "edge") {
            if (p.data.tip !== undefined) { return esc(p.data.tip); }
            return (p.data.amount / 1e4).toFixed(2) + " " + (words.unit || "");
          }
          var d = p.data;
          if (d.lines) { return [d.name].concat(d.lines).map(esc).join("<br>"); }
          return d.name + (d.uscc ? "<br>" + d.uscc : "") + "<br>" + d.district + (d.loop ? "<br>" + words.loop : "") +
            (d.impact !== null && d.impact !== undefined ? "<br>" + String(words.impact).replace("{n}", d.impact) : "");
        }
      },
      series: [{
        type: "graph", layout: "force", roam: true, draggable: true,
        // The graph fills its box from just under the legend line; small graphs spread out,
        // and a label that would overlap another is hidden (it shows on hover).
        top: cats ? 40 : 28, bottom: 8, left: 8, right: cats ? 100 : 8,
        force: force,
        edgeSymbol: spec.directed === false ? ["none", "none"] : ["none", "arrow"], edgeSymbolSize: 6,
        categories: cats ? cats.map(function (c) {
          return { name: c.name, itemStyle: { color: c.colour }, symbol: c.symbol || "circle" };
        }) : undefined,
        label: { show: spec.nodes.length <= 60, position: "right", fontSize: 10 },
        labelLayout: { hideOverlap: true },
        emphasis: { focus: "adjacency", label: { show: true } },
        data: spec.nodes.map(function (n) {
          var border = n.focus ? "#000" : (n.loop ? "#6a1b9a" : "#fff");
          var style = { borderColor: border, borderWidth: n.focus ? 3 : (n.loop ? 2 : 1) };
          if (n.colour) { style.color = n.colour; }
          return { id: n.id, name: n.name, uscc: n.uscc, district: n.district, loop: n.loop, impact: n.impact,
                   lines: n.lines, href: n.href, category: n.category, symbol: n.symbol,
                   symbolSize: n.size, itemStyle: style };
        }),
        links: spec.links.map(function (l) {
          return { source: l.source, target: l.target, amount: l.amount, tip: l.tip,
                   lineStyle: { width: l.width, opacity: 0.6 } };
        })
      }]
    });
    if (spec.fit) { fitOnce(chart, el, cats ? 40 : 28, cats ? 100 : 8); }
    chart.on("dblclick", function (p) {
      if (p.dataType !== "node") { return; }
      if (p.data.href) { window.location.href = p.data.href; }
      else if (p.data.uscc) { window.location.href = "/network/enterprises/" + p.data.uscc; }
    });
    window.addEventListener("resize", function () { chart.resize(); });
  }
  // Centre and zoom the laid-out graph so that its nodes and their labels (drawn to the right) fill the
  // box below the legend; once, so that the user's own panning and zooming are left alone.
  function fitOnce(chart, el, top, right) {
    var done = false;
    chart.on("finished", function () {
      if (done) { return; }
      done = true;
      var data = chart.getModel().getSeriesByIndex(0).getData();
      var x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
      for (var i = 0; i < data.count(); i++) {
        var p = data.getItemLayout(i);
        if (!p || isNaN(p[0]) || isNaN(p[1])) { continue; }
        var label = Math.min(String(data.getName(i)).length * 10 + 14, 180);
        x0 = Math.min(x0, p[0] - 16); x1 = Math.max(x1, p[0] + label);
        y0 = Math.min(y0, p[1] - 16); y1 = Math.max(y1, p[1] + 16);
      }
      if (!isFinite(x0)) { return; }
      var boxW = el.clientWidth - 8 - right, boxH = el.clientHeight - top - 8;
      var zoom = Math.max(0.4, Math.min(2.5, Math.min(boxW / (x1 - x0), boxH / (y1 - y0))));
      chart.setOption({ series: [{ center: [(x0 + x1) / 2, (y0 + y1) / 2], zoom: zoom }] });
    });
  }
  function start() { document.querySelectorAll("[data-graph]").forEach(draw); }
  var ready = document.fonts && document.fonts.load ? document.fonts.load("14px 'Qiantang CJK'", "钱塘") : Promise.resolve();
  ready.catch(function () {}).then(function () {
    if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
  });
})();
