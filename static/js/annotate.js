/* The comparison page: keyboard shortcuts, time on item, lease heartbeat, undo countdown.
 *
 * The server renders everything; htmx swaps #workspace after submit/skip/undo. This file only adds
 * what HTML cannot do: global keys, a visible-time clock, a heartbeat that keeps the lease while the
 * page is open and in use, and a countdown on the undo button. No eval, no inline handlers.
 */
(function () {
  "use strict";

  var IDLE_MS = 10 * 60 * 1000; // no heartbeat after 10 minutes without any input: let the lease lapse
  var clockTimer = null, beatTimer = null, undoTimer = null;
  var visibleMs = 0, lastTick = 0, lastInput = Date.now(), submitting = false;

  function $(sel, root) { return (root || document).querySelector(sel); }
  function $$(sel, root) { return Array.prototype.slice.call((root || document).querySelectorAll(sel)); }

  function csrfToken() {
    try { return JSON.parse(document.body.getAttribute("hx-headers"))["X-CSRFToken"]; } catch (e) { return ""; }
  }

  function fmt(ms) {
    var s = Math.floor(ms / 1000), m = Math.floor(s / 60);
    return m + ":" + String(s % 60).padStart(2, "0");
  }

  /* --- time on item: counts only while the page is visible ------------------------------- */
  function tick() {
    var now = performance.now();
    if (document.visibilityState === "visible") visibleMs += now - lastTick;
    lastTick = now;
    var hidden = $("#time-spent"), clock = $("#ws-clock");
    if (hidden) hidden.value = String(Math.round(visibleMs));
    if (clock) clock.textContent = fmt(visibleMs);
  }

  /* --- heartbeat: keep the lease while someone is working ---------------------------------- */
  function beat() {
    var ws = $("#workspace");
    if (!ws || !ws.dataset.heartbeatUrl) return;
    if (document.visibilityState !== "visible" || Date.now() - lastInput > IDLE_MS) return;
    fetch(ws.dataset.heartbeatUrl, {
      method: "POST", credentials: "same-origin",
      headers: { "X-CSRFToken": csrfToken(), "X-Requested-With": "fetch" },
    }).then(function (r) {
      if (r.status === 409 || r.status === 404) {
        var lost = $("#ws-lost");
        if (lost) lost.hidden = false;
        clearInterval(beatTimer);
      }
    }).catch(function () { /* offline for a moment: the next beat tries again */ });
  }

  /* --- undo countdown --------------------------------------------------------------------- */
  function undoTick() {
    var ws = $("#workspace"), form = $("#undo-form");
    if (!ws || !form) return;
    var until = parseInt(ws.dataset.undoUntil || "0", 10);
    var left = Math.ceil((until - Date.now()) / 1000);
    if (!until || left <= 0) { form.hidden = true; clearInterval(undoTimer); return; }
    form.hidden = false;
    var label = $(".undo-left", form);
    if (label) label.textContent = left + "s";
  }

  /* --- preference label under the scale --------------------------------------------------- */
  function showPreference() {
    var checked = $("input[name=preference]:checked"), out = $("#pref-label");
    if (out) out.textContent = checked ? checked.closest("label").title.replace(/ \(\d\)$/, "") : "";
  }

  // The sticky bars and panel are placed under the top bars: measure them (fonts differ).
  function measureBars() {
    var top = $(".topbar"), bar = $(".ws-bar"), root = document.documentElement.style;
    if (top) root.setProperty("--bar-h", top.offsetHeight + "px");
    if (bar) root.setProperty("--ws-h", bar.offsetHeight + "px");
  }

  function init() {
    measureBars();
    var ws = $("#workspace");
    if (!ws || ws.dataset.ready) return;
    ws.dataset.ready = "1";
    submitting = false;
    var spent = $("#time-spent");
    visibleMs = spent ? parseInt(spent.value || "0", 10) || 0 : 0;
    lastTick = performance.now();
    clearInterval(clockTimer);
    clockTimer = setInterval(tick, 1000);
    tick();

    clearInterval(beatTimer);
    if (ws.dataset.heartbeatUrl) {
      var lease = parseInt(ws.dataset.leaseSeconds || "1800", 10);
      var every = Math.min(300, Math.max(15, Math.floor(lease / 3)));
      beatTimer = setInterval(beat, every * 1000);
    }
    clearInterval(undoTimer);
    undoTimer = setInterval(undoTick, 500);
    undoTick();
    showPreference();
    countAnswers();
    var firstTab = $(".ws-tab", ws);
    if (firstTab) showTab($(".error-box, .has-error", ws) ? "judgment-panel" : firstTab.dataset.tab);

    // Start where the work is: the first unanswered criterion, else the overall preference.
    var target = firstUnanswered() || overallTarget() || $("#judgment-form .criteria input");
    if (target && !$(".error-box", ws)) target.focus({ preventScroll: true });
    else if ($("#judgment-errors")) $("#judgment-errors").scrollIntoView({ block: "nearest" });
    if (ws.dataset.item) window.scrollTo({ top: 0 });
  }

  /* --- phones: one pane at a time ------------------------------------------------------------
     The tab bar (A | B | Rubric) shows under 600 px; there the CSS hides the panes that are not
     the workspace's data-tab, so the rubric is one tap away instead of below both responses. */
  function showTab(id) {
    var ws = $("#workspace");
    if (!ws || !$(".ws-tabs", ws)) return;
    ws.dataset.tab = id;
    $$(".ws-tab", ws).forEach(function (b) { b.setAttribute("aria-selected", String(b.dataset.tab === id)); });
    $$("#judgment-form .response").forEach(function (r) { r.classList.toggle("tab-off", r.id !== id); });
  }
  function openTab(id) {
    showTab(id);
    var tabs = $(".ws-tabs"), form = $("#judgment-form");
    var gap = form.getBoundingClientRect().top - tabs.getBoundingClientRect().bottom;
    if (gap < 0) window.scrollBy(0, gap); // the pane starts right under the sticky tab bar
    if (id === "judgment-panel") {
      var target = firstUnanswered() || overallTarget();
      if (target) target.focus({ preventScroll: true });
    }
  }
  function countAnswers() {
    var out = $("#ws-tab-count");
    if (!out) return;
    var cells = $$("#judgment-form .criteria .cell");
    var done = cells.filter(function (c) {
      return $$("input[type=radio]", c).some(function (r) { return r.checked; }) || ($("input[type=number]", c) || {}).value;
    }).length;
    out.textContent = done + "/" + cells.length;
  }

  function firstUnanswered() {
    var groups = $$("#judgment-form .criteria .cell");
    for (var i = 0; i < groups.length; i++) {
      var radios = $$("input[type=radio]", groups[i]);
      if (radios.length && !radios.some(function (r) { return r.checked; })) return radios[0];
      var num = $("input[type=number]", groups[i]);
      if (num && num.value === "") return num;
    }
    return null;
  }

  /* --- the focus model: one cell (criterion × response) or the overall panel is active ---------
     In a cell, keys answer that cell (binary: Y/N or 1/0; Likert: 1–5; points: the digit of the
     points), then the next cell is active (A, then B, then the next criterion), then the overall
     panel, where 1–7 set the preference. Shift+1–7 set it from anywhere. Enter submits when
     everything is answered and otherwise jumps to the first missing answer. */
  function cellOf(el) { return el && el.closest ? el.closest("#judgment-form .criteria .cell") : null; }
  function overallTarget() {
    return $("#judgment-form .pref-scale input:checked") || $("#judgment-form .pref-scale input[value='0']")
      || $("#judgment-form .rank-row input");
  }
  function focusCell(cell) {
    var el = cell && ($("input:checked", cell) || $("input", cell));
    if (el) el.focus();
    return !!el;
  }
  function activate(el) {
    $$("#judgment-form .cell-active, #judgment-form .criterion-active, #judgment-form .preference-active")
      .forEach(function (n) { n.classList.remove("cell-active", "criterion-active", "preference-active"); });
    var cell = cellOf(el);
    if (cell) {
      cell.classList.add("cell-active");
      cell.closest(".criterion").classList.add("criterion-active");
    } else if (el && el.closest && el.closest(".preference")) {
      el.closest(".preference").classList.add("preference-active");
    }
  }
  function advanceFrom(cell) {
    var cells = $$("#judgment-form .criteria .cell");
    var next = cells[cells.indexOf(cell) + 1];
    if (next) { focusCell(next); return; }
    var missing = firstUnanswered();
    var target = missing || overallTarget();
    if (target) target.focus();
  }
  function answerCell(cell, key) {
    var radios = $$("input[type=radio]", cell);
    if (!radios.length) return false;
    var k = key.toLowerCase();
    var values = radios.map(function (r) { return r.value; });
    var want = null;
    if (values.length === 2 && values.indexOf("1") >= 0 && values.indexOf("0") >= 0) {
      want = (k === "y" || k === "1") ? "1" : (k === "n" || k === "0") ? "0" : null;
    } else if (/^[0-9]$/.test(k)) {
      values.forEach(function (v) { if (String(Math.abs(parseInt(v, 10))) === k) want = v; });
    }
    if (want === null) return false;
    var radio = radios[values.indexOf(want)];
    radio.checked = true;
    radio.dispatchEvent(new Event("change", { bubbles: true }));
    advanceFrom(cell);
    return true;
  }
  function complete() {
    if (firstUnanswered()) return false;
    var prefs = $$("#judgment-form .pref-scale input");
    if (prefs.length && !prefs.some(function (r) { return r.checked; }) && !$("#both-bad").checked) return false;
    return true;
  }

  /* --- overlays ----------------------------------------------------------------------------- */
  function openHelp() { var d = $("#help-dialog"); if (d && !d.open) d.showModal(); }
  function closeHelp() { var d = $("#help-dialog"); if (d && d.open) d.close(); }
  function toggleGuidelines(force) {
    var d = $("#guidelines-drawer");
    if (!d) return;
    d.hidden = force === undefined ? !d.hidden : !force;
    document.body.classList.toggle("drawer-open", !d.hidden);
  }

  function submitForm() {
    var form = $("#judgment-form");
    if (!form || submitting) return;
    submitting = true;
    tick();
    form.requestSubmit();
    // If the server answers with errors the workspace is swapped and init() resets the flag;
    // if the request never leaves (offline), allow a retry after a moment.
    setTimeout(function () { submitting = false; }, 4000);
  }

  function setPreference(value) {
    var input = $("#judgment-form input[name=preference][value='" + value + "']");
    if (input) { input.checked = true; showPreference(); }
  }

  function rankNext(letter) {
    var rows = $$("#judgment-form .rank-row");
    var index = letter.charCodeAt(0) - 97;
    if (index < 0 || index >= rows.length) return false;
    var input = $(".rank-input", rows[index]);
    if (input.value) { input.value = ""; return true; } // pressing it again takes it back out
    var used = $$("#judgment-form .rank-input").map(function (i) { return parseInt(i.value, 10); });
    for (var rank = 1; rank <= rows.length; rank++) {
      if (used.indexOf(rank) === -1) { input.value = String(rank); break; }
    }
    return true;
  }

  document.addEventListener("keydown", function (e) {
    lastInput = Date.now();
    var help = $("#help-dialog");
    if (help && help.open) {
      if (e.key === "?" || e.key === "Escape") { e.preventDefault(); closeHelp(); }
      return;
    }
    var t = e.target;
    var typing = t.matches && t.matches("textarea, input[type=text], input[type=number], input[type=search], select, [contenteditable]");
    if (e.key === "Escape") {
      toggleGuidelines(false);
      if (typing) t.blur();
      return;
    }
    if (typing) {
      if (e.key === "Enter" && (e.ctrlKey || e.metaKey) && $("#judgment-form")) { e.preventDefault(); submitForm(); }
      else if (e.key === "Enter" && cellOf(t)) { e.preventDefault(); advanceFrom(cellOf(t)); }
      return;
    }
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    var form = $("#judgment-form"), ws = $("#workspace");
    var ranking = ws && ws.dataset.mode === "rank";
    var key = e.key;

    if (key === "?") { e.preventDefault(); openHelp(); return; }
    if (key === "g" || key === "G") {
      e.preventDefault();
      if (!(ranking && rankNext("g"))) toggleGuidelines(); // G ranks a 7th response in rankings
      return;
    }
    if (!form) {
      var undo = $("#undo-form");
      if ((key === "u" || key === "U") && undo && !undo.hidden) { e.preventDefault(); $("#undo-button").click(); }
      return;
    }
    if (key === "Enter") {
      if (t.matches && t.matches("button, a, summary")) return; // let the focused control act
      e.preventDefault();
      if (ranking || complete()) { submitForm(); return; }
      var missing = firstUnanswered() || overallTarget();
      showTab("judgment-panel");
      if (missing) missing.focus();
      return;
    }
    var digit = /^Digit[1-7]$/.test(e.code || "") ? parseInt(e.code.slice(5), 10) : null;
    if (!ranking && e.shiftKey && digit) { e.preventDefault(); setPreference(digit - 4); return; }
    var cell = cellOf(t);
    if (cell && answerCell(cell, key)) { e.preventDefault(); return; }
    if (!ranking && !cell && key >= "1" && key <= "7") {
      e.preventDefault();
      setPreference(parseInt(key, 10) - 4);
      var submit = $("#submit-button");
      if (complete() && submit) submit.focus();
      return;
    }
    if (key === "x" || key === "X" || (key === "0" && !cell)) { e.preventDefault(); var bb = $("#both-bad"); bb.checked = !bb.checked; return; }
    if (key === "r" || key === "R") { e.preventDefault(); $("#rationale").focus(); return; }
    if (key === "s" || key === "S") { e.preventDefault(); if (!submitting) { submitting = true; $("#skip-button").click(); } return; }
    if (key === "u" || key === "U") {
      e.preventDefault();
      if (!$("#undo-form").hidden && !submitting) { submitting = true; $("#undo-button").click(); }
      return;
    }
    if (ranking) {
      if (key === "Delete" || key === "Backspace") {
        e.preventDefault();
        $$("#judgment-form .rank-input").forEach(function (i) { i.value = ""; });
        return;
      }
      if (/^[a-hA-H]$/.test(key) && rankNext(key.toLowerCase())) { e.preventDefault(); }
    }
  });

  // Capture phase: runs before htmx reads the form, so a mouse submit also sends the current time.
  document.addEventListener("submit", function (e) { if (e.target.id === "judgment-form") tick(); }, true);
  document.addEventListener("change", function (e) {
    if (e.target.name === "preference") showPreference();
    countAnswers();
  });
  document.addEventListener("pointerdown", function () { lastInput = Date.now(); });
  document.addEventListener("focusin", function (e) { activate(e.target); });

  document.addEventListener("click", function (e) {
    var open = e.target.closest("[data-open]"), close = e.target.closest("[data-close]");
    var tab = e.target.closest(".ws-tab");
    if (tab) openTab(tab.dataset.tab);
    if (open) { if (open.dataset.open === "help") openHelp(); else toggleGuidelines(true); }
    if (close) { if (close.dataset.close === "help") closeHelp(); else toggleGuidelines(false); }
  });

  window.addEventListener("resize", measureBars);
  document.addEventListener("visibilitychange", function () { lastTick = performance.now(); tick(); });
  document.addEventListener("htmx:afterSettle", init);
  // A failed request (server error, offline) must not leave the page stuck in "submitting".
  document.addEventListener("htmx:afterRequest", function (e) { if (!e.detail.successful) submitting = false; });
  // 503 (the database or the queue is restarting): say so above the form and leave the form as it
  // is, so sending it again works; a second submit of the same item is stored once.
  document.addEventListener("htmx:responseError", function (e) {
    var ws = $("#workspace");
    if (!ws || !e.detail.xhr || e.detail.xhr.status !== 503) return;
    var box = $("#ws-outage");
    if (!box) {
      box = document.createElement("div");
      box.id = "ws-outage"; box.className = "ws-lost"; box.setAttribute("role", "alert");
      ($("#ws-toasts") || ws).appendChild(box);
    }
    box.textContent = "The server is reconnecting to its database. Nothing is lost: try again in a few seconds.";
    box.hidden = false;
  });
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init); else init();
})();
