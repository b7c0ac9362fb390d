// Insights charts: each <canvas data-chart="ID"> is drawn from the JSON in <script id="ID" type="application/json">
// (written by Django's json_script: data, never code), so the page needs no inline script or style and
// works under a strict Content-Security-Policy. The chart specs come from insights/charts.py.
(function () {
  "use strict";

  var PALETTE = ["#2563eb", "#d97706", "#059669", "#db2777", "#7c3aed", "#0891b2", "#65a30d", "#dc2626"];
  var GRID = "rgba(0, 0, 0, 0.08)";

  function colour(i, alpha) {
    var hex = PALETTE[i % PALETTE.length];
    if (alpha === undefined) return hex;
    var n = parseInt(hex.slice(1), 16);
    return "rgba(" + (n >> 16) + ", " + ((n >> 8) & 255) + ", " + (n & 255) + ", " + alpha + ")";
  }

  function pct(v) { return v === null || v === undefined ? "—" : (v * 100).toFixed(0) + "%"; }
  function num(v) { return v === null || v === undefined ? "—" : Number(v).toFixed(3); }

  function valueAxis(spec, horizontal) {
    var axis = {
      title: { display: !!spec.axis, text: spec.axis || "" },
      grid: { color: GRID },
    };
    if (spec.min !== null && spec.min !== undefined) axis.min = spec.min;
    if (spec.max !== null && spec.max !== undefined) axis.max = spec.max;
    return axis;
  }

  // A point estimate with its 95% interval per row: a thin floating bar [low, high] and a dot.
  function intervals(spec) {
    var groups = spec.groups || spec.labels.map(function () { return 0; });
    var bars = spec.labels.map(function (_l, i) {
      return spec.low[i] === null || spec.high[i] === null ? null : [spec.low[i], spec.high[i]];
    });
    var datasets = [
      {
        type: "bar", label: "95% interval", data: bars, barPercentage: 0.35, categoryPercentage: 1,
        backgroundColor: groups.map(function (g) { return colour(g, 0.3); }),
        borderColor: groups.map(function (g) { return colour(g); }), borderWidth: 1, borderSkipped: false,
      },
      {
        type: "line", label: "Estimate", data: spec.values, showLine: false, pointRadius: 5, pointHoverRadius: 7,
        pointBackgroundColor: groups.map(function (g) { return colour(g); }), pointBorderColor: "#fff",
      },
    ];
    var legend = { display: false };
    if (spec.legend && spec.legend.length > 1) {
      legend = {
        display: true,
        labels: {
          generateLabels: function () {
            return spec.legend.map(function (name, i) {
              return { text: name, fillStyle: colour(i), strokeStyle: colour(i), lineWidth: 0, hidden: false };
            });
          },
        },
      };
    }
    return {
      data: { labels: spec.labels, datasets: datasets },
      options: {
        indexAxis: "y",
        scales: { x: valueAxis(spec, true), y: { grid: { display: false } } },
        plugins: {
          legend: legend,
          tooltip: {
            callbacks: {
              label: function (ctx) {
                var i = ctx.dataIndex;
                return num(spec.values[i]) + "  (95%: " + num(spec.low[i]) + " to " + num(spec.high[i]) + ")";
              },
            },
            filter: function (item) { return item.datasetIndex === 1; },
          },
        },
      },
    };
  }

  // A line with a shaded interval band (agreement over time).
  function band(spec) {
    return {
      data: {
        labels: spec.labels,
        datasets: [
          { type: "line", label: "95% high", data: spec.high, borderWidth: 0, pointRadius: 0, fill: "+1",
            backgroundColor: colour(0, 0.15) },
          { type: "line", label: "95% low", data: spec.low, borderWidth: 0, pointRadius: 0, fill: false },
          { type: "line", label: "α", data: spec.values, borderColor: colour(0), backgroundColor: colour(0),
            pointRadius: 3, tension: 0.2 },
        ],
      },
      options: {
        scales: { y: valueAxis(spec), x: { grid: { display: false } } },
        plugins: { legend: { display: false } },
      },
    };
  }

  // Annotators: agreement against speed; flagged annotators in red.
  function scatter(spec) {
    var normal = spec.points.filter(function (p) { return !p.flagged; });
    var flagged = spec.points.filter(function (p) { return p.flagged; });
    return {
      type: "scatter",
      data: {
        datasets: [
          { label: "Annotator", data: normal, backgroundColor: colour(0), pointRadius: 6 },
          { label: "Flagged", data: flagged, backgroundColor: "#dc2626", pointRadius: 7, pointStyle: "triangle" },
        ],
      },
      options: {
        scales: {
          x: { title: { display: true, text: spec.x_axis }, grid: { color: GRID }, beginAtZero: true },
          y: { title: { display: true, text: spec.y_axis }, grid: { color: GRID }, min: 0, max: 1,
               ticks: { callback: function (v) { return pct(v); } } },
        },
        plugins: {
          tooltip: { callbacks: { label: function (ctx) {
            var p = ctx.raw;
            return p.label + ": " + pct(p.y) + " agreement, " + Number(p.x).toFixed(0) + " s per item";
          } } },
        },
      },
    };
  }

  // Grouped bars with a dashed 50% reference line (position and length bias).
  function bias(spec) {
    var datasets = spec.series.map(function (s, i) {
      return { type: "bar", label: s.name, data: s.values, backgroundColor: colour(i + 1, 0.75) };
    });
    datasets.push({ type: "line", label: "No bias", data: spec.labels.map(function () { return 0.5; }),
                    borderColor: "#6b7280", borderDash: [6, 4], borderWidth: 1.5, pointRadius: 0 });
    return {
      data: { labels: spec.labels, datasets: datasets },
      options: {
        scales: { y: { min: 0, max: 1, title: { display: true, text: spec.axis }, grid: { color: GRID },
                       ticks: { callback: function (v) { return pct(v); } } }, x: { grid: { display: false } } },
        plugins: { tooltip: { callbacks: { label: function (ctx) { return ctx.dataset.label + ": " + pct(ctx.raw); } } } },
      },
    };
  }

  function bars(spec) {
    return {
      data: {
        labels: spec.labels,
        datasets: spec.series.map(function (s, i) {
          return { type: "bar", label: s.name, data: s.values, backgroundColor: colour(i, 0.75) };
        }),
      },
      options: {
        scales: { y: valueAxis(spec), x: { grid: { display: false } } },
      },
    };
  }

  // Reliability diagram: observed against predicted per scorer, with the diagonal.
  function calibration(spec) {
    var datasets = spec.series.map(function (s, i) {
      return { type: "line", label: s.name, data: s.points, borderColor: colour(i), backgroundColor: colour(i),
               pointRadius: 4, showLine: true, tension: 0 };
    });
    datasets.push({ type: "line", label: "Perfectly calibrated", data: [{ x: 0, y: 0 }, { x: 1, y: 1 }],
                    borderColor: "#6b7280", borderDash: [6, 4], borderWidth: 1.5, pointRadius: 0 });
    return {
      type: "scatter",
      data: { datasets: datasets },
      options: {
        scales: {
          x: { type: "linear", min: 0, max: 1, title: { display: true, text: spec.x_axis }, grid: { color: GRID } },
          y: { min: 0, max: 1, title: { display: true, text: spec.y_axis }, grid: { color: GRID } },
        },
        plugins: { tooltip: { callbacks: { label: function (ctx) {
          var p = ctx.raw;
          return ctx.dataset.label + ": predicted " + num(p.x) + ", observed " + num(p.y) + (p.n ? " (" + p.n + ")" : "");
        } } } },
      },
    };
  }

  var KINDS = { intervals: intervals, band: band, scatter: scatter, bias: bias, bars: bars, calibration: calibration };

  function draw(canvas) {
    var source = document.getElementById(canvas.getAttribute("data-chart"));
    if (!source || canvas.getAttribute("data-drawn")) return;
    var spec = JSON.parse(source.textContent);
    var build = KINDS[spec.kind];
    if (!build) return;
    var config = build(spec);
    config.type = config.type || "bar";
    config.options = config.options || {};
    config.options.responsive = true;
    config.options.maintainAspectRatio = false;
    config.options.animation = false;
    config.options.plugins = config.options.plugins || {};
    new window.Chart(canvas, config);
    canvas.setAttribute("data-drawn", "true");
  }

  function drawAll() {
    if (!window.Chart) return;
    window.Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
    window.Chart.defaults.color = "#374151";
    document.querySelectorAll("canvas[data-chart]").forEach(draw);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", drawAll);
  else drawAll();
})();
