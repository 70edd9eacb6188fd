// The vehicle page's odometer chart: the daily readings and the forecast (P50 line, P10-P90
// band), read from the page's JSON block and drawn with the vendored uPlot. No inline script:
// the page's Content-Security-Policy allows only files of this site.
(function () {
  "use strict";
  var holder = document.getElementById("odometer-chart");
  var source = document.getElementById("odometer-data");
  if (!holder || !source || typeof uPlot === "undefined") {
    return;
  }
  var chart = JSON.parse(source.textContent);
  var km = function (u, value) {
    return value == null ? "–" : Math.round(value).toLocaleString("en") + " km";
  };
  var size = function () {
    return { width: Math.max(holder.clientWidth, 240), height: 260 };
  };
  var forecast = { stroke: "#d9822b", width: 1, dash: [4, 4], spanGaps: true, value: km };
  var dims = size();
  var plot = new uPlot(
    {
      width: dims.width,
      height: dims.height,
      tzDate: function (ts) {
        return uPlot.tzDate(new Date(ts * 1e3), "Etc/UTC");
      },
      scales: { x: { time: true } },
      series: [
        { label: "Day (UTC)" },
        { label: "Odometer", stroke: "#1f5fa8", width: 2, spanGaps: true, value: km },
        Object.assign({ label: "P10" }, forecast),
        { label: "Forecast P50", stroke: "#d9822b", width: 2, spanGaps: true, value: km },
        Object.assign({ label: "P90" }, forecast),
      ],
      bands: [{ series: [4, 2], fill: "rgba(217, 130, 43, 0.15)" }],
      axes: [
        {},
        {
          label: "km",
          size: 64,
          values: function (u, ticks) {
            return ticks.map(function (v) {
              return Math.round(v).toLocaleString("en");
            });
          },
        },
      ],
      legend: { live: true },
    },
    [chart.x, chart.odometer_km, chart.p10_km, chart.p50_km, chart.p90_km],
    holder
  );
  var pending = 0;
  window.addEventListener("resize", function () {
    window.cancelAnimationFrame(pending);
    pending = window.requestAnimationFrame(function () {
      plot.setSize(size());
    });
  });
})();
