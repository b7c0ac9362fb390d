/* Rubric draft editor: keyboard shortcuts, reordering (buttons, Alt+arrows, drag), saved state.
 * Everything else is htmx; this file only adds what htmx has no attribute for. No dependencies. */
(function () {
  "use strict";

  const editor = () => document.getElementById("rubric-editor");
  const list = () => document.getElementById("criteria-list");
  const rows = () => Array.from(list().querySelectorAll(":scope > li.crit-row"));
  const ids = () => rows().map((r) => r.dataset.id);
  const isTyping = (el) => el && (el.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(el.tagName));

  function setSaveText(text, pending) {
    const box = document.getElementById("save-state");
    if (!box) return;
    const span = box.querySelector(".save-text");
    if (span) span.textContent = text;
    box.classList.toggle("pending", !!pending);
    box.classList.toggle("failed", text.startsWith("Not saved"));
    box.classList.remove("just-saved");
  }

  // 409 (conflict) and 422 (invalid) answers carry a fragment that keeps the user's input: show it.
  document.body.addEventListener("htmx:beforeSwap", (e) => {
    const status = e.detail.xhr.status;
    if ((status === 409 || status === 422) && e.target.closest && e.target.closest("#rubric-editor, #publish-form")) {
      e.detail.shouldSwap = true;
      e.detail.isError = false;
    }
  });

  document.body.addEventListener("htmx:beforeRequest", (e) => {
    if (e.detail.requestConfig.verb !== "get" && e.target.closest && e.target.closest("#rubric-editor, #publish-form")) {
      setSaveText("Saving…", true);
    }
  });

  document.body.addEventListener("htmx:afterRequest", (e) => {
    if (!e.target.closest || !e.target.closest("#rubric-editor, #publish-form")) return;
    if (e.detail.requestConfig.verb === "get") return;
    const status = e.detail.xhr.status;
    if (status === 422) setSaveText("Not saved: see the form", false);
    else if (status === 409) setSaveText("Not saved: conflict", false);
    else if (!e.detail.successful) setSaveText("Not saved: error " + status, false);
  });

  // Other errors (403, 404, 500, network): say so above the editor instead of failing silently.
  document.body.addEventListener("htmx:responseError", (e) => {
    const status = e.detail.xhr.status;
    if (status === 409 || status === 422) return;
    const box = document.getElementById("editor-message");
    if (!box) return;
    const div = document.createElement("div");
    div.className = "error-box";
    div.setAttribute("role", "alert");
    div.textContent = status === 404
      ? "That is gone (deleted or discarded meanwhile). Reload the editor."
      : "The server refused that change (" + status + "). Reload the editor and try again.";
    box.replaceChildren(div);
  });

  // --- reordering ------------------------------------------------------------------------------
  function sendOrder(baseOrder) {
    const order = ids();
    if (order.join(",") === baseOrder.join(",")) return;
    htmx.ajax("POST", editor().dataset.reorderUrl, {
      source: list(), swap: "none",
      values: { order: order.join(","), base_order: baseOrder.join(",") },
    });
  }

  function move(row, direction) {
    const base = ids();
    const sibling = direction === "up" ? row.previousElementSibling : row.nextElementSibling;
    if (!sibling || !sibling.classList.contains("crit-row")) return;
    if (direction === "up") sibling.before(row); else sibling.after(row);
    row.focus();
    sendOrder(base);
  }

  document.addEventListener("click", (e) => {
    const button = e.target.closest("[data-move]");
    if (button) {
      const row = button.closest("li.crit-row");
      move(row, button.dataset.move);
      const again = row.querySelector(`[data-move="${button.dataset.move}"]`);
      if (again) again.focus();
      return;
    }
    const toggle = e.target.closest("[data-toggle-help]");
    if (toggle) {
      const help = document.getElementById("keyboard-help");
      help.hidden = !help.hidden;
      toggle.setAttribute("aria-expanded", String(!help.hidden));
    }
  });

  // Drag by the handle only, so text in a row stays selectable.
  let dragged = null;
  let dragBase = null;
  document.addEventListener("mousedown", (e) => {
    const handle = e.target.closest(".crit-handle");
    if (handle) handle.closest("li.crit-row").setAttribute("draggable", "true");
  });
  document.addEventListener("dragstart", (e) => {
    const row = e.target.closest && e.target.closest("#criteria-list > li.crit-row");
    if (!row || row.getAttribute("draggable") !== "true") return;
    dragged = row;
    dragBase = ids();
    row.classList.add("dragging");
    e.dataTransfer.effectAllowed = "move";
    e.dataTransfer.setData("text/plain", row.dataset.id);
  });
  document.addEventListener("dragover", (e) => {
    if (!dragged) return;
    const over = e.target.closest && e.target.closest("#criteria-list > li.crit-row");
    if (!over || over === dragged) return;
    e.preventDefault();
    const box = over.getBoundingClientRect();
    if (e.clientY < box.top + box.height / 2) over.before(dragged); else over.after(dragged);
  });
  document.addEventListener("drop", (e) => { if (dragged) e.preventDefault(); });
  document.addEventListener("dragend", () => {
    if (!dragged) return;
    dragged.classList.remove("dragging");
    dragged.setAttribute("draggable", "false");
    const base = dragBase;
    dragged = null;
    dragBase = null;
    sendOrder(base);
  });

  // --- keyboard --------------------------------------------------------------------------------
  document.addEventListener("keydown", (e) => {
    if (!editor()) return;
    const active = document.activeElement;
    const form = active && active.closest && active.closest("form.crit-form");

    if (form && e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      form.requestSubmit();
      return;
    }
    if (form && e.key === "Escape") {
      const cancel = form.querySelector('[data-action="cancel"]');
      if (cancel) { e.preventDefault(); cancel.click(); }
      return;
    }
    if (isTyping(active)) return;

    const row = active && active.matches && active.matches("#criteria-list > li.crit-row:not(.editing)") ? active : null;
    if (row && e.altKey && (e.key === "ArrowUp" || e.key === "ArrowDown")) {
      e.preventDefault();
      move(row, e.key === "ArrowUp" ? "up" : "down");
      return;
    }
    if (e.altKey || e.ctrlKey || e.metaKey) return;
    if (row && (e.key === "ArrowUp" || e.key === "ArrowDown")) {
      e.preventDefault();
      const next = e.key === "ArrowUp" ? row.previousElementSibling : row.nextElementSibling;
      if (next) next.focus();
      return;
    }
    if (row && (e.key === "Enter" || e.key === "e" || e.key === "E")) {
      e.preventDefault();
      row.querySelector('[data-action="edit"]').click();
      return;
    }
    if (row && (e.key === "d" || e.key === "D")) {
      e.preventDefault();
      row.querySelector('[data-action="duplicate"]').click();
      return;
    }
    if (row && (e.key === "Delete" || e.key === "Backspace")) {
      e.preventDefault();
      row.querySelector('[data-action="delete"]').click();
      return;
    }
    if (e.key === "n" || e.key === "N") {
      const title = document.getElementById("fnew-title");
      if (title) { e.preventDefault(); title.focus(); }
      return;
    }
    if (e.key === "?") {
      const toggle = document.querySelector("[data-toggle-help]");
      if (toggle) toggle.click();
    }
  });

  // Negative points mean a pitfall: keep importance in step so the form is valid as typed.
  document.addEventListener("input", (e) => {
    if (!e.target.matches("[data-points]")) return;
    const select = e.target.closest("form").querySelector("[data-importance]");
    const value = parseFloat(e.target.value);
    if (!select || Number.isNaN(value)) return;
    if (value < 0 && select.value !== "pitfall") select.value = "pitfall";
    else if (value > 0 && select.value === "pitfall") select.value = "important";
  });

  // Plain (non-htmx) forms that need a confirmation.
  document.addEventListener("submit", (e) => {
    const message = e.target.dataset && e.target.dataset.confirm;
    if (message && !e.target.hasAttribute("hx-post") && !window.confirm(message)) e.preventDefault();
  });
})();
