// A criterion's "i" button shows or hides its guidance (templates/annotator/_criteria.html): on the
// comparison page and in the rubric editor's annotator preview alike.
document.addEventListener("click", (event) => {
  const info = event.target.closest("button.info[data-guidance]");
  if (!info) return;
  const box = document.getElementById(info.dataset.guidance);
  if (!box) return;
  box.hidden = !box.hidden;
  info.setAttribute("aria-expanded", String(!box.hidden));
});
