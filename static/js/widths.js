// Bar widths come from data-width (a percentage) instead of inline style attributes, which the
// Content-Security-Policy (style-src 'self') refuses. Setting element.style from a script is allowed.
(function () {
  "use strict";
  function apply(root) {
    (root.querySelectorAll ? root : document).querySelectorAll("[data-width]").forEach(function (el) {
      var value = parseFloat(el.getAttribute("data-width"));
      if (!isNaN(value)) el.style.width = Math.max(0, Math.min(100, value)) + "%";
    });
  }
  document.addEventListener("DOMContentLoaded", function () { apply(document); });
  document.addEventListener("htmx:afterSettle", function (e) { apply(e.target || document); });
})();
