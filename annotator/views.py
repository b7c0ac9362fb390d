"""HTML views for projects, members, item import and items. Short functions: parse, check
membership, call a service or selector, render. The comparison page is in views_annotate.py and
review in views_review.py.
"""

import json

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from accounts.selectors import account_statuses, invite_latest, is_pending
from accounts.services import invite_reissue
from accounts.views import invite_deliver
from config.errors import ApplicationError, PayloadTooLargeError
from config.htmx import render_htmx
from config.ids import parse_id

from .access import ROLES_ADMIN, ROLES_STAFF, is_site_admin, project_get_for_user, require_site_admin
from .forms import (
    PREFERENCE_LABELS,
    ImportForm,
    MemberAddForm,
    MemberInviteForm,
    MemberRoleForm,
    ProjectForm,
    label_from_post,
    preference_text,
    rank_rows,
    ranks_of,
    responses_numbered,
    shown_text,
)
from .models import ProjectMembership
from .selectors import (
    ITEM_FILTERS,
    gold_accuracy,
    item_counts,
    item_get_for_project,
    item_judgments,
    item_page,
    member_list,
    member_user_get,
    project_list_for_user,
    project_progress,
    rubric_switch_candidates,
    rubric_switch_version_get,
    rubric_version_newer,
)
from .services import (
    item_set_gold,
    items_import,
    membership_remove,
    membership_set,
    project_create,
    project_update,
    projects_rubric_version_switch,
)
from .services import member_invite as member_invite_service

Role = ProjectMembership.Role


def _int_param(request, name: str) -> int | None:
    try:
        return int(request.GET.get(name, ""))
    except ValueError:
        return None


# --- Projects ---------------------------------------------------------------------------------


@login_required
def home(request):
    projects = list(project_list_for_user(user=request.user))
    for p in projects:
        p.needed = p.item_count * p.overlap
        p.percent = min(100, round(100 * p.judgment_count / p.needed)) if p.needed else 0
    return render(request, "annotator/home.html", {"projects": projects})


@login_required
def project_detail(request, project_id: int):
    project = project_get_for_user(user=request.user, project_id=project_id)
    progress = project_progress(project=project, user=request.user)
    is_admin = project.membership.role == Role.ADMIN
    return render(
        request,
        "annotator/project_detail.html",
        {"project": project, "membership": project.membership, "progress": progress, "is_admin": is_admin,
         "is_staff_role": project.membership.role in ROLES_STAFF,
         "newer_version": rubric_version_newer(project=project) if is_admin else None},
    )


@login_required
def project_new(request):
    require_site_admin(request.user, "create projects")
    form = ProjectForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = {k: v for k, v in form.cleaned_data.items() if k != "name"}
        try:
            project = project_create(name=form.cleaned_data["name"], created_by=request.user, **data)
        except ApplicationError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, f"Project “{project.name}” created. Import items next.")
            return redirect("annotator:item_import", project_id=project.id)
    return render(request, "annotator/project_form.html", {"form": form, "project": None})


@login_required
def project_settings(request, project_id: int):
    project = project_get_for_user(user=request.user, project_id=project_id, roles=ROLES_ADMIN)
    form = ProjectForm(request.POST or None, instance=project)
    if request.method == "POST" and form.is_valid():
        changed = {k: form.cleaned_data[k] for k in form.changed_data}
        try:
            fresh = project_get_for_user(user=request.user, project_id=project_id, roles=ROLES_ADMIN)
            project_update(project=fresh, **changed)
        except ApplicationError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, "Settings saved.")
            return redirect("annotator:project_detail", project_id=project.id)
    return render(request, "annotator/project_form.html", {"form": form, "project": project})


# --- Moving projects to a newer rubric version ----------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def rubric_switch(request, slug: str, number: int):
    """The offer that follows publishing a rubric version: move the projects you administer that
    pin an older version of the set. The page says what happens to existing judgments."""
    version = rubric_switch_version_get(user=request.user, slug=slug, number=number)
    candidates = rubric_switch_candidates(user=request.user, version=version)
    error = None
    if request.method == "POST":
        ids = [i for v in request.POST.getlist("project") if (i := parse_id(v))]
        try:
            moved = projects_rubric_version_switch(user=request.user, version=version, project_ids=ids)
        except ApplicationError as exc:
            error = exc
        else:
            kept = sum(p.judgments_on_pinned for p in candidates if p.pk in set(ids))
            names = ", ".join(f"“{p.name}”" for p in moved)
            messages.success(request, f"Moved {names} to {version.rubric_set.name} v{version.number}: judgments from "
                                      f"now on use it; the {kept} made before keep the version they were made with.")
            if len(moved) == 1:
                return redirect("annotator:project_detail", project_id=moved[0].id)
            if is_site_admin(request.user):
                return redirect("rubrics:set_detail", slug=version.rubric_set.slug)
            return redirect("home")
    chosen = {i for v in (request.POST.getlist("project") if error else request.GET.getlist("project"))
              if (i := parse_id(v))}
    for p in candidates:
        p.chosen = p.pk in chosen if chosen else True
    context = {"version": version, "rubric_set": version.rubric_set, "candidates": candidates, "error": error,
               "can_read_versions": is_site_admin(request.user)}
    return render(request, "annotator/rubric_switch.html", context, status=error.status if error else 200)


# --- Members ----------------------------------------------------------------------------------


def _members_page(request, project, *, add_form=None, invite_form=None, created: dict | None = None,
                  status: int = 200):
    members = member_list(project=project)
    statuses = account_statuses(users=[m.user for m in members])
    for m in members:
        m.account_status, invite = statuses[m.user_id]
        # Who may hand out a new link for an account that has not joined: a site admin, or whoever
        # created the account (another project's admin could otherwise take it over).
        m.can_reissue = is_pending(m.user) and (
            is_site_admin(request.user) or (invite is not None and invite.created_by_id == request.user.pk))
    context = {"project": project, "form": add_form or MemberAddForm(), "members": members, "roles": Role.choices,
               "invite_form": invite_form or MemberInviteForm(), "created": created,
               "invite_days": settings.INVITE_LINK_DAYS}
    return render(request, "annotator/project_members.html", context, status=status)


@never_cache
@login_required
def project_members(request, project_id: int):
    project = project_get_for_user(user=request.user, project_id=project_id, roles=ROLES_ADMIN)
    form = MemberAddForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            membership_set(project=project, user=form.cleaned_data["user"], role=form.cleaned_data["role"])
        except ApplicationError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, f"{form.cleaned_data['username']} is now {form.cleaned_data['role']}.")
            return redirect("annotator:project_members", project_id=project.id)
    invite_form = None
    if getattr(form, "unknown_username", None):
        # The answer to an unknown name is the invite form, filled in.
        invite_form = MemberInviteForm(initial={"username": form.unknown_username, "role": request.POST.get("role")})
    return _members_page(request, project, add_form=form if request.method == "POST" else None,
                         invite_form=invite_form)


@never_cache
@login_required
@require_POST
def member_invite(request, project_id: int):
    """Invite someone new: the answer shows the one-time link (and says whether it was emailed)."""
    project = project_get_for_user(user=request.user, project_id=project_id, roles=ROLES_ADMIN)
    form = MemberInviteForm(request.POST)
    if form.is_valid():
        try:
            link = member_invite_service(
                project=project, username=form.cleaned_data["username"], email=form.cleaned_data["email"],
                role=form.cleaned_data["role"], actor=request.user,
                landing_url=reverse("annotator:project_detail", args=[project.id]))
        except ApplicationError as exc:
            form.add_error("username" if "username" in exc.fields else None, exc.message)
        else:
            return _members_page(request, project, created=invite_deliver(request, link, project_name=project.name))
    return _members_page(request, project, invite_form=form, status=400)


@never_cache
@login_required
@require_POST
def member_invite_link(request, project_id: int, user_id: int):
    """A new invitation link for a member who has not joined yet; the old link stops working."""
    project = project_get_for_user(user=request.user, project_id=project_id, roles=ROLES_ADMIN)
    user = member_user_get(project=project, user_id=user_id)
    invite = invite_latest(user=user)
    if not is_site_admin(request.user) and (invite is None or invite.created_by_id != request.user.pk):
        raise PermissionDenied("Only a site admin or whoever invited this person can issue a new link.")
    try:
        link = invite_reissue(user=user, actor=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("annotator:project_members", project_id=project.id)
    return _members_page(request, project, created=invite_deliver(request, link, project_name=project.name))


@login_required
@require_POST
def member_role(request, project_id: int, user_id: int):
    project = project_get_for_user(user=request.user, project_id=project_id, roles=ROLES_ADMIN)
    user = member_user_get(project=project, user_id=user_id)
    form = MemberRoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose a role.")
    else:
        try:
            membership_set(project=project, user=user, role=form.cleaned_data["role"])
            messages.success(request, f"{user.get_username()} is now {form.cleaned_data['role']}.")
        except ApplicationError as exc:
            messages.error(request, exc.message)
    return redirect("annotator:project_members", project_id=project.id)


@login_required
@require_POST
def member_remove(request, project_id: int, user_id: int):
    project = project_get_for_user(user=request.user, project_id=project_id, roles=ROLES_ADMIN)
    user = member_user_get(project=project, user_id=user_id)
    try:
        membership_remove(project=project, user=user)
        messages.success(request, f"{user.get_username()} was removed; their judgments stay.")
    except ApplicationError as exc:
        messages.error(request, exc.message)
    return redirect("annotator:project_members", project_id=project.id)


# --- Import -----------------------------------------------------------------------------------


@login_required
def item_import(request, project_id: int):
    project = project_get_for_user(user=request.user, project_id=project_id, roles=ROLES_ADMIN)
    form = ImportForm(request.POST or None, request.FILES or None)
    report, error, status = None, None, 200
    if request.method == "POST":
        if form.is_valid():
            try:
                report = items_import(project=project, stream=form.cleaned_data["file"],
                                      file_format=form.cleaned_data["format"], gold=form.cleaned_data["gold"])
            except ApplicationError as exc:
                error, status = exc, exc.status
        else:
            status = PayloadTooLargeError.status if form.too_large else 400
    context = {
        "project": project, "form": form, "report": report, "error": error,
        "max_file_mib": settings.IMPORT_MAX_FILE_BYTES // (1024 * 1024),
        "max_line_kib": settings.IMPORT_MAX_LINE_BYTES // 1024, "max_depth": settings.IMPORT_MAX_JSON_DEPTH,
    }
    return render_htmx(request, "annotator/import.html", context, partial="import-result", status=status)


# --- Items ------------------------------------------------------------------------------------


@login_required
def item_list(request, project_id: int):
    project = project_get_for_user(user=request.user, project_id=project_id, roles=ROLES_STAFF)
    current = request.GET.get("filter", "all")
    if current not in ITEM_FILTERS:
        current = "all"
    search = request.GET.get("q", "").strip()[:255]
    page = item_page(project=project, where=ITEM_FILTERS[current], after=_int_param(request, "after"),
                     before=_int_param(request, "before"), search=search)
    context = {
        "project": project, "page": page, "filter": current, "search": search,
        "counts": item_counts(project=project, filters=ITEM_FILTERS),
        "filters": [("all", "All"), ("open", "Open"), ("complete", "Complete"), ("disagreement", "Disagreement"),
                    ("gold", "Gold"), ("adjudicated", "Adjudicated")],
    }
    return render_htmx(request, "annotator/item_list.html", context, partial="item-table")


def _scores_context(project, user, item, annotating: bool) -> dict:
    """Model scores for the item when this user may see them here (scoring app's contract)."""
    from scoring.selectors import model_scores_visible, response_scores_for_items

    if not model_scores_visible(project=project, user=user, annotating=annotating):
        return {"show_scores": False}
    return {"show_scores": True, "model_scores": response_scores_for_items(item_ids=[item.pk])}


@login_required
def item_detail(request, project_id: int, item_id: int):
    project = project_get_for_user(user=request.user, project_id=project_id, roles=ROLES_STAFF)
    item = item_get_for_project(project=project, item_id=item_id)
    responses = responses_numbered(item)
    labels = {r.id: f"Response {r.label}" for r in responses}
    if len(responses) == 2:
        labels.update(first="1", second="2")
    judgments = item_judgments(item=item)
    position = {r.id: r.label for r in responses}
    for j in judgments:
        j.verdict = preference_text(j.preference, j.both_bad, j.ranking, labels)
        j.shown = shown_text(j.assignment.shown_order, position)
    context = {
        "project": project, "item": item, "responses": responses, "judgments": judgments,
        "is_admin": project.membership.role == Role.ADMIN,
        "gold_scale": [(v, PREFERENCE_LABELS[v].format(a="1", b="2")) for v in range(-3, 4)],
        "gold_ranks": rank_rows(responses, ranks_of(item.gold_ranking)),
        "metadata_json": json.dumps(item.metadata, indent=2, ensure_ascii=False)[:20000],
        **_scores_context(project, request.user, item, annotating=False),
    }
    return render(request, "annotator/item_detail.html", context)


@login_required
@require_POST
def item_gold(request, project_id: int, item_id: int):
    project = project_get_for_user(user=request.user, project_id=project_id, roles=ROLES_ADMIN)
    item = item_get_for_project(project=project, item_id=item_id)
    is_gold = request.POST.get("is_gold") == "1"
    label = label_from_post(request.POST, list(item.responses.all()))
    try:
        item_set_gold(item=item, is_gold=is_gold, preference=label.preference, both_bad=label.both_bad,
                      ranking=label.ranking)
        messages.success(request, "Gold answer saved." if is_gold else "No longer a gold item.")
    except ApplicationError as exc:
        messages.error(request, exc.message)
    return redirect(reverse("annotator:item_detail", args=[project.id, item.id]) + "#gold")


@login_required
def gold_report(request, project_id: int):
    project = project_get_for_user(user=request.user, project_id=project_id, roles=ROLES_STAFF)
    return render(request, "annotator/gold.html", {"project": project, "gold_rows": gold_accuracy(project=project)})
