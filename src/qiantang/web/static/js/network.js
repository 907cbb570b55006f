// Draws a guarantee graph (nodes and links from the page's data-graph attribute) with ECharts.
(function () {
  "use strict";
  function draw(el) {
    var spec = JSON.parse(el.dataset.graph);
    var chart = echarts.init(el, null, { renderer: "canvas" });
    var font = getComputedStyle(document.body).fontFamily;
    var few = spec.nodes.length <= 30;
    chart.setOption({
      textStyle: { fontFamily: font },
      tooltip: {
        formatter: function (p) {
          var words = spec.labels || {};
          if (p.dataType === "edge") { return (p.data.amount / 1e4).toFixed(2) + " " + (words.unit || ""); }
          var d = p.data;
          return d.name + (d.uscc ? "<br>" + d.uscc : "") + "<br>" + d.district + (d.loop ? "<br>" + words.loop : "") +
            (d.impact !== null && d.impact !== undefined ? "<br>" + String(words.impact).replace("{n}", d.impact) : "");
        }
      },
      series: [{
        type: "graph", layout: "force", roam: true, draggable: true,
        // The graph fills its box from just under the legend line; small graphs spread out,
        // and a label that would overlap another is hidden (it shows on hover).
        top: 28, bottom: 8, left: 8, right: 8,
        force: few ? { repulsion: 450, edgeLength: [80, 160], gravity: 0.12, layoutAnimation: false }
                   : { repulsion: 120, edgeLength: [30, 90], gravity: 0.08 },
        edgeSymbol: ["none", "arrow"], edgeSymbolSize: 6,
        label: { show: spec.nodes.length <= 60, position: "right", fontSize: 10 },
        labelLayout: { hideOverlap: true },
        emphasis: { focus: "adjacency", label: { show: true } },
        data: spec.nodes.map(function (n) {
          return { id: n.id, name: n.name, uscc: n.uscc, district: n.district, loop: n.loop, impact: n.impact,
                   symbolSize: n.size,
                   itemStyle: { color: n.colour, borderColor: n.focus ? "#000" : (n.loop ? "#6a1b9a" : "#fff"),
                                borderWidth: n.focus ? 3 : (n.loop ? 2 : 1) } };
        }),
        links: spec.links.map(function (l) {
          return { source: l.source, target: l.target, amount: l.amount, lineStyle: { width: l.width, opacity: 0.6 } };
        })
      }]
    });
    chart.on("dblclick", function (p) {
      if (p.dataType === "node" && p.data.uscc) { window.location.href = "/network/enterprises/" + p.data.uscc; }
    });
    window.addEventListener("resize", function () { chart.resize(); });
  }
  function start() { document.querySelectorAll("[data-graph]").forEach(draw); }
  var ready = document.fonts && document.fonts.load ? document.fonts.load("14px 'Qiantang CJK'", "钱塘") : Promise.resolve();
  ready.catch(function () {}).then(function () {
    if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
  });
})();
