"""Rubric pages: sets, versions, the htmx draft editor, diff, import and export.

Reads go through rubrics.selectors (a 404 for anyone who may not read the set or version);
writes need a site admin (`is_staff`): a reader who is not one gets 403, everyone else 404.
Editor actions answer htmx with fragments plus out-of-band updates of the "saved" state, and
with 409 (conflict) or 422 (invalid) fragments that keep the user's input.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from annotator.access import require_site_admin
from annotator.selectors import rubric_switch_candidates
from config.errors import ApplicationError, ConflictError
from config.htmx import render_htmx
from config.ids import parse_id

from . import selectors, services
from .formats import FORMS
from .forms import CRITERION_CHOICES, RubricImportForm, RubricSetEditForm, RubricSetForm, criterion_data_from_post
from .models import Criterion, RubricVersion

EDITOR = "rubrics/version_editor.html"


# --- helpers ---------------------------------------------------------------------------------

def _get_version_for_user(request, slug: str, number: int, *, staff: bool = False) -> RubricVersion:
    """The version if the user may read it (404 otherwise); with `staff`, 403 for readers who may not edit."""
    version = selectors.rubric_version_get_by_number(user=request.user, slug=slug, number=number)
    if staff:
        require_site_admin(request.user, "edit rubrics")
    return version


def _int_or_none(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _field_errors(exc: ApplicationError) -> dict[str, str]:
    """{"tags[1]": "duplicate"} → {"tags": "tags[1]: duplicate"} for showing next to form fields."""
    out: dict[str, str] = {}
    for path, message in exc.fields.items():
        name = path.split("[", 1)[0].split(".", 1)[0]
        out.setdefault(name, message if name == path else f"{path}: {message}")
    return out


def _editor_context(version: RubricVersion, **extra) -> dict:
    return {"version": version, "rubric_set": version.rubric_set, "choices": CRITERION_CHOICES, **extra}


def _oob(request, version: RubricVersion, edit: services.DraftEdit | None, client_revision: int | None,
         failed: bool = False) -> str:
    """Out-of-band fragments every editor write returns: saved state, page revision, stale banner."""
    if edit is not None and edit.changed:
        current, others = edit.version.revision, edit.others
    else:
        # Nothing saved (an error, or no change): still tell the page whether others edited meanwhile.
        current = selectors.rubric_version_revision(version=version)
        others = []
        if client_revision is not None and current > client_revision:
            others = selectors.changes_since(version=version, revision=client_revision, exclude_actor=request.user)
    # The page's revision only moves past changes it has been shown; publishing checks it.
    page_revision = client_revision if (others and client_revision is not None) else current
    ctx = {"version": version, "oob": True, "saved_at": timezone.localtime() if edit and edit.changed else None,
           "page_revision": page_revision, "others": others, "rubric_set": version.rubric_set, "failed": failed}
    return (render_to_string(f"{EDITOR}#save-state", ctx, request=request)
            + render_to_string(f"{EDITOR}#stale-banner", ctx, request=request))


def _respond(request, body: str, *, version: RubricVersion, edit: services.DraftEdit | None, status: int = 200,
             retarget: str | None = None, reswap: str | None = None) -> HttpResponse:
    client_revision = _int_or_none(request.POST.get("client_revision"))
    response = HttpResponse(body + _oob(request, version, edit, client_revision, failed=status >= 400), status=status)
    if edit is not None and edit.changed:
        response["HX-Trigger"] = "rubricChanged"
    if retarget:
        response["HX-Retarget"] = retarget
    if reswap:
        response["HX-Reswap"] = reswap
    return response


def _criteria_list_html(request, version: RubricVersion, **extra) -> str:
    version = selectors.rubric_version_fresh(version=version)
    criteria = selectors.criteria_in_order(version=version)
    return render_to_string(f"{EDITOR}#criteria-list", _editor_context(version, criteria=criteria, **extra),
                            request=request)


def _conflict_box(request, version: RubricVersion, exc: ApplicationError) -> str:
    return render_to_string(f"{EDITOR}#editor-message", _editor_context(version, error=exc, oob=True),
                            request=request)


def _editor_write(request, version: RubricVersion, *, write, done, saved, refused) -> HttpResponse:
    """Run one editor write. With htmx, answer `saved(edit)` or `refused(exc)` (fragments that keep
    the user's input); without (a plain form post), go back to the version page with a message:
    `done(edit)` when saved, the error's message when refused."""
    try:
        edit = write()
    except ApplicationError as exc:
        if request.htmx:
            return refused(exc)
        messages.error(request, exc.message)
        return redirect("rubrics:version_detail", slug=version.rubric_set.slug, number=version.number)
    if request.htmx:
        return saved(edit)
    messages.success(request, done(edit))
    return redirect("rubrics:version_detail", slug=edit.version.rubric_set.slug, number=edit.version.number)


# --- sets ------------------------------------------------------------------------------------

@login_required
def set_list(request):
    sets = list(selectors.rubric_set_list_for_user(user=request.user))
    return render(request, "rubrics/set_list.html", {"sets": sets})


@login_required
def set_new(request):
    require_site_admin(request.user, "edit rubrics")
    form = RubricSetForm(request.POST or None)
    error = None
    if request.method == "POST" and form.is_valid():
        try:
            version = services.rubric_set_create(actor=request.user, **form.cleaned_data)
        except ApplicationError as exc:
            error = exc
            for name, message in _field_errors(exc).items():
                form.add_error(name if name in form.fields else None, message)
        else:
            messages.success(request, f"Created {version.rubric_set.name}. Add criteria to its first draft.")
            return redirect("rubrics:version_detail", slug=version.rubric_set.slug, number=version.number)
    return render(request, "rubrics/set_new.html", {"form": form, "error": error},
                  status=422 if request.method == "POST" else 200)


@login_required
def set_detail(request, slug: str):
    rubric_set = selectors.rubric_set_get_for_user(user=request.user, slug=slug)
    events, next_before = selectors.rubric_event_page(rubric_set=rubric_set) if request.user.is_staff else ([], None)
    versions = rubric_set.readable_versions
    has_draft = any(v.status == RubricVersion.Status.DRAFT for v in versions)
    latest_frozen = next((v for v in versions if v.is_frozen), None)
    return render(request, "rubrics/set_detail.html", {
        "rubric_set": rubric_set, "versions": versions, "events": events, "next_before": next_before,
        "has_draft": has_draft, "latest_frozen": latest_frozen,
        "edit_form": RubricSetEditForm(initial={"name": rubric_set.name, "description": rubric_set.description}),
    })


@login_required
@require_GET
def set_history(request, slug: str):
    rubric_set = selectors.rubric_set_get_for_user(user=request.user, slug=slug)
    require_site_admin(request.user, "edit rubrics")
    events, next_before = selectors.rubric_event_page(rubric_set=rubric_set,
                                                     before_id=_int_or_none(request.GET.get("before")))
    return render_htmx(request, "rubrics/set_history.html",
                       {"rubric_set": rubric_set, "events": events, "next_before": next_before}, partial="history-rows")


@login_required
@require_POST
def set_edit(request, slug: str):
    rubric_set = selectors.rubric_set_get_for_user(user=request.user, slug=slug)
    require_site_admin(request.user, "edit rubrics")
    form = RubricSetEditForm(request.POST)
    if form.is_valid():
        try:
            services.rubric_set_update(rubric_set=rubric_set, actor=request.user, **form.cleaned_data)
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, "Saved the set's name and description.")
    else:
        messages.error(request, "The name is required.")
    return redirect("rubrics:set_detail", slug=rubric_set.slug)


@login_required
@require_POST
def set_new_draft(request, slug: str):
    """A new draft of the set: from `from` (a version number), or from the newest published version."""
    rubric_set = selectors.rubric_set_get_for_user(user=request.user, slug=slug)
    require_site_admin(request.user, "edit rubrics")
    number = _int_or_none(request.POST.get("from"))
    base = None
    if number is not None:
        base = selectors.rubric_version_get_by_number(user=request.user, slug=slug, number=number)
    else:
        base = selectors.rubric_version_newest_frozen(rubric_set=rubric_set)
    try:
        version = services.rubric_draft_create(rubric_set=rubric_set, actor=request.user, from_version=base)
    except ConflictError as exc:
        messages.error(request, exc.message)
        draft = exc.extra.get("draft")
        if draft:
            return redirect("rubrics:version_detail", slug=slug, number=draft)
        return redirect("rubrics:set_detail", slug=slug)
    messages.success(request, f"Draft v{version.number} created" + (f" from v{base.number}." if base else "."))
    return redirect("rubrics:version_detail", slug=slug, number=version.number)


@login_required
def set_compare(request, slug: str):
    rubric_set = selectors.rubric_set_get_for_user(user=request.user, slug=slug)
    versions = rubric_set.readable_versions
    numbers = [v.number for v in versions]
    if len(versions) < 2:
        return render(request, "rubrics/diff.html", {"rubric_set": rubric_set, "versions": versions, "diff": None})
    new_number = _int_or_none(request.GET.get("to")) or numbers[0]
    old_number = _int_or_none(request.GET.get("from"))
    if old_number is None:
        old_number = next((n for n in numbers if n < new_number), numbers[-1])
    old = selectors.rubric_version_get_by_number(user=request.user, slug=slug, number=old_number)
    new = selectors.rubric_version_get_by_number(user=request.user, slug=slug, number=new_number)
    diff = selectors.rubric_version_diff(old=old, new=new)
    return render(request, "rubrics/diff.html", {
        "rubric_set": rubric_set, "versions": versions, "old": old, "new": new, "diff": diff,
    })


@login_required
def rubric_import(request):
    require_site_admin(request.user, "edit rubrics")
    initial = {"rubric_set": request.GET.get("set")} if request.GET.get("set") else None
    form = RubricImportForm(request.POST or None, request.FILES or None, initial=initial)
    error = None
    if request.method == "POST" and form.is_valid():
        content, source = form.document_bytes()
        data = form.cleaned_data
        try:
            result = services.rubric_import_text(
                content=content, syntax=data["syntax"], form=data["form"], actor=request.user,
                rubric_set=data["rubric_set"], set_meta={"name": data["name"], "slug": data["slug"]},
                publish=data["publish"], source=source,
            )
        except ApplicationError as exc:
            error = exc
        else:
            version = result.version
            note = ""
            if result.source_hash_matches is True:
                note = " Its content hash matches the exported version."
            elif result.source_hash_matches is False:
                note = " Its content differs from the exported version's hash (edited since export)."
            messages.success(request, f"Imported {version.rubric_set.name} v{version.number} "
                                      f"({version.criteria.count()} criteria, {result.form} form) "
                                      f"as {version.get_status_display().lower()}.{note}")
            return redirect("rubrics:version_detail", slug=version.rubric_set.slug, number=version.number)
    status = 200 if request.method == "GET" else (error.status if error else 422)
    return render(request, "rubrics/import.html", {"form": form, "error": error}, status=status)


# --- versions --------------------------------------------------------------------------------

@login_required
def version_detail(request, slug: str, number: int):
    version = _get_version_for_user(request, slug, number)
    criteria = sorted(version.criteria.all(), key=lambda c: (c.position, c.id))
    siblings = selectors.rubric_version_numbers(rubric_set=version.rubric_set) if request.user.is_staff else []
    context = _editor_context(version, criteria=criteria, siblings=siblings, page_revision=version.revision,
                              export_forms=FORMS,
                              older_projects=rubric_switch_candidates(user=request.user, version=version))
    if version.status == RubricVersion.Status.DRAFT and request.user.is_staff:
        return render(request, EDITOR, context)
    return render(request, "rubrics/version_detail.html", context)


@login_required
@require_GET
def version_preview(request, slug: str, number: int):
    version = _get_version_for_user(request, slug, number)
    return render_htmx(request, "rubrics/version_preview.html", {"version": version, "rubric_set": version.rubric_set},
                       partial="preview")


@login_required
@require_GET
def version_export(request, slug: str, number: int):
    version = _get_version_for_user(request, slug, number)
    export = selectors.rubric_version_export_file(version=version, syntax=request.GET.get("syntax", "json"),
                                                  form=request.GET.get("form", "rubricate"))
    response = HttpResponse(export.text, content_type=export.content_type)
    response["Content-Disposition"] = f'attachment; filename="{export.filename}"'
    return response


@login_required
@require_POST
def version_publish(request, slug: str, number: int):
    version = _get_version_for_user(request, slug, number, staff=True)
    try:
        version = services.rubric_version_publish(
            version=version, actor=request.user, expected_revision=_int_or_none(request.POST.get("client_revision")),
        )
    except ApplicationError as exc:
        if request.htmx:
            body = render_to_string(f"{EDITOR}#editor-message", _editor_context(version, error=exc), request=request)
            return _respond(request, body,
                            version=version, edit=None, status=409 if isinstance(exc, ConflictError) else 422,
                            retarget="#editor-message", reswap="outerHTML")
        messages.error(request, exc.message)
        return redirect("rubrics:version_detail", slug=slug, number=number)
    # The projects on an older version of this set are not moved silently: the next page offers it.
    older = rubric_switch_candidates(user=request.user, version=version)
    if older:
        messages.success(request, f"Published v{version.number}; it can no longer change. Your projects on an older "
                                  f"version ({len(older)}) stay there unless you move them here.")
        url = reverse("annotator:rubric_switch", kwargs={"slug": slug, "number": version.number})
    else:
        messages.success(request, f"Published v{version.number}. Projects can now pin it; it can no longer change.")
        url = reverse("rubrics:set_detail", kwargs={"slug": slug})
    if request.htmx:
        response = HttpResponse(status=204)
        response["HX-Redirect"] = url
        return response
    return redirect(url)


def _status_change(request, slug: str, number: int, service, done: str):
    version = _get_version_for_user(request, slug, number, staff=True)
    try:
        service(version=version, actor=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, done.format(number=version.number))
    target = request.POST.get("next", "")
    # A path on this site only: redirect() would read a bare word ("²") as a view name (500).
    if not target.startswith("/") or not url_has_allowed_host_and_scheme(
            target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        target = reverse("rubrics:set_detail", kwargs={"slug": slug})
    return redirect(target)


@login_required
@require_POST
def version_archive(request, slug: str, number: int):
    return _status_change(request, slug, number, services.rubric_version_archive,
                          "Archived v{number}: hidden from new projects, still readable.")


@login_required
@require_POST
def version_unarchive(request, slug: str, number: int):
    return _status_change(request, slug, number, services.rubric_version_unarchive,
                          "v{number} is offered to new projects again.")


@login_required
@require_POST
def version_discard(request, slug: str, number: int):
    return _status_change(request, slug, number, services.rubric_draft_discard, "Discarded draft v{number}.")


# --- the draft editor ------------------------------------------------------------------------

@login_required
@require_POST
def version_notes(request, slug: str, number: int):
    version = _get_version_for_user(request, slug, number, staff=True)
    notes = request.POST.get("notes", "")

    def refused(exc):
        fresh = selectors.rubric_version_fresh(version=version)
        body = render_to_string(f"{EDITOR}#notes-form", _editor_context(
            fresh, notes_value=notes, notes_error=exc, base_notes=fresh.notes if isinstance(exc, ConflictError)
            else request.POST.get("base_notes", "")), request=request)
        return _respond(request, body, version=fresh, edit=None, status=exc.status if exc.status != 400 else 422)

    def saved(edit):
        body = render_to_string(f"{EDITOR}#notes-form", _editor_context(edit.version, saved=True), request=request)
        return _respond(request, body, version=edit.version, edit=edit)

    return _editor_write(
        request, version, refused=refused, saved=saved, done=lambda edit: "Saved the notes.",
        write=lambda: services.rubric_draft_notes_update(
            version=version, notes=notes, base_notes=request.POST.get("base_notes"), actor=request.user,
            client_revision=_int_or_none(request.POST.get("client_revision")),
        ),
    )


@login_required
@require_POST
def criterion_add(request, slug: str, number: int):
    version = _get_version_for_user(request, slug, number, staff=True)
    data = criterion_data_from_post(request.POST)

    def refused(exc):
        if request.GET.get("in_place"):
            body = render_to_string(f"{EDITOR}#row-form", _editor_context(
                version, c=Criterion(id=_int_or_none(request.POST.get("row_id")) or 0, version=version),
                values=dict(request.POST.items()), errors=_field_errors(exc), error=exc, deleted=True,
                base_revision=0), request=request)
        else:
            body = render_to_string(f"{EDITOR}#add-form", _editor_context(
                version, values=request.POST, errors=_field_errors(exc), error=exc), request=request)
        return _respond(request, body, version=version, edit=None, status=409 if exc.status == 409 else 422)

    def saved(edit):
        if request.GET.get("in_place"):
            # "Add it back" from a conflict form: the new row replaces that form where it stands.
            body = render_to_string(f"{EDITOR}#row", _editor_context(edit.version, c=edit.criterion, focus=True,
                                                                        just_saved=True), request=request)
            return _respond(request, body, version=edit.version, edit=edit)
        # The fresh add form is the main swap (its title field takes the focus for the next one);
        # the new row is appended to the list out of band.
        body = render_to_string(f"{EDITOR}#add-form", _editor_context(edit.version, values={}, autofocus_new=True),
                                request=request)
        body += render_to_string(f"{EDITOR}#row-append", _editor_context(edit.version, c=edit.criterion),
                                 request=request)
        return _respond(request, body, version=edit.version, edit=edit)

    return _editor_write(
        request, version, refused=refused, saved=saved, done=lambda edit: f"Added “{edit.criterion.title}”.",
        write=lambda: services.criterion_add(version=version, data=data, actor=request.user,
                                             client_revision=_int_or_none(request.POST.get("client_revision"))),
    )


@login_required
@require_GET
def criterion_row(request, slug: str, number: int, criterion_id: int):
    """A criterion in read mode (also how "Cancel" and "Use theirs" leave the edit form)."""
    version = _get_version_for_user(request, slug, number, staff=True)
    criterion = selectors.criterion_get(version=version, criterion_id=criterion_id)
    if criterion is None:
        if request.htmx:
            return HttpResponse("")  # deleted meanwhile: the row goes away
        raise Http404("No such criterion.")
    if not request.htmx:
        return redirect(f"{reverse('rubrics:version_detail', args=[slug, number])}#criterion-{criterion.id}")
    return render(request, f"{EDITOR}#row", _editor_context(version, c=criterion, focus=True))


@login_required
def criterion_edit(request, slug: str, number: int, criterion_id: int):
    version = _get_version_for_user(request, slug, number, staff=True)
    if request.method == "GET":
        criterion = selectors.criterion_get_or_404(version=version, criterion_id=criterion_id)
        if not request.htmx:
            return redirect(f"{reverse('rubrics:version_detail', args=[slug, number])}#criterion-{criterion.id}")
        return render(request, f"{EDITOR}#row-form", _editor_context(
            version, c=criterion, values=selectors.criterion_as_dict(criterion), base_revision=criterion.revision,
            autofocus="title"))
    if request.method != "POST":
        return HttpResponse(status=405)
    data = criterion_data_from_post(request.POST)
    expected = _int_or_none(request.POST.get("criterion_revision")) or 0

    def refused(exc):
        current = selectors.criterion_get(version=version, criterion_id=criterion_id)
        conflict = exc if isinstance(exc, ConflictError) else None
        values = dict(request.POST.items())
        ctx = _editor_context(
            version, c=current or Criterion(id=criterion_id, version=version), values=values,
            errors=_field_errors(exc) if not conflict else {}, error=exc if not conflict else None,
            conflict=conflict, deleted=bool(conflict and current is None),
            # After a conflict the form carries the current revision: "Save mine anyway" is then a
            # deliberate overwrite of a change the user has now seen.
            base_revision=current.revision if (conflict and current) else expected,
        )
        body = render_to_string(f"{EDITOR}#row-form", ctx, request=request)
        return _respond(request, body, version=version, edit=None, status=409 if conflict else 422)

    def saved(edit):
        body = render_to_string(f"{EDITOR}#row", _editor_context(edit.version, c=edit.criterion, focus=True,
                                                                    just_saved=True), request=request)
        return _respond(request, body, version=edit.version, edit=edit)

    return _editor_write(
        request, version, refused=refused, saved=saved, done=lambda edit: "Saved.",
        write=lambda: services.criterion_update(
            version=version, criterion_id=criterion_id, data=data, expected_criterion_revision=expected,
            actor=request.user, client_revision=_int_or_none(request.POST.get("client_revision"))),
    )


@login_required
@require_POST
def criterion_delete(request, slug: str, number: int, criterion_id: int):
    version = _get_version_for_user(request, slug, number, staff=True)

    def refused(exc):
        current = selectors.criterion_get(version=version, criterion_id=criterion_id)
        body = render_to_string(f"{EDITOR}#row", _editor_context(version, c=current, row_error=exc),
                                request=request) if current else ""
        return _respond(request, body, version=version, edit=None, status=409)

    return _editor_write(
        request, version, refused=refused, done=lambda edit: "Deleted.",
        saved=lambda edit: _respond(request, "", version=edit.version, edit=edit),
        write=lambda: services.criterion_delete(
            version=version, criterion_id=criterion_id,
            expected_criterion_revision=_int_or_none(request.POST.get("criterion_revision")),
            actor=request.user, client_revision=_int_or_none(request.POST.get("client_revision")),
        ),
    )


@login_required
@require_POST
def criterion_duplicate(request, slug: str, number: int, criterion_id: int):
    version = _get_version_for_user(request, slug, number, staff=True)

    def saved(edit):
        body = render_to_string(f"{EDITOR}#row-form", _editor_context(
            edit.version, c=edit.criterion, values=selectors.criterion_as_dict(edit.criterion),
            base_revision=edit.criterion.revision, autofocus="title"), request=request)
        return _respond(request, body, version=edit.version, edit=edit)

    return _editor_write(
        request, version, saved=saved, done=lambda edit: "Duplicated.",
        refused=lambda exc: _respond(request, _conflict_box(request, version, exc), version=version, edit=None,
                                     status=409, reswap="none"),
        write=lambda: services.criterion_duplicate(
            version=version, criterion_id=criterion_id, actor=request.user,
            client_revision=_int_or_none(request.POST.get("client_revision"))),
    )


@login_required
@require_POST
def criteria_reorder(request, slug: str, number: int):
    version = _get_version_for_user(request, slug, number, staff=True)

    def ids(name: str) -> list[int] | None:
        raw = request.POST.get(name)
        if raw is None:
            return None
        return [i for x in raw.split(",") if (i := parse_id(x.strip()))]

    def refused(exc):
        # The list the user saw is stale: show the current order and say why the move was refused.
        body = _criteria_list_html(request, version) + _conflict_box(request, version, exc)
        return _respond(request, body, version=version, edit=None, status=exc.status,
                        retarget="#criteria-list", reswap="outerHTML")

    return _editor_write(
        request, version, refused=refused, done=lambda edit: "Reordered.",
        saved=lambda edit: _respond(request, "", version=edit.version, edit=edit),
        write=lambda: services.criteria_reorder(
            version=version, order=ids("order") or [], base_order=ids("base_order"), actor=request.user,
            client_revision=_int_or_none(request.POST.get("client_revision"))),
    )
