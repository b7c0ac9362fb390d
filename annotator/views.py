"""HTML views for projects. Short functions: parse, check membership, call a selector, render."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from .selectors import project_get_for_user, project_list_for_user, project_progress


@login_required
def home(request):
    projects = list(project_list_for_user(user=request.user))
    for p in projects:
        p.needed = p.item_count * p.overlap
        p.percent = min(100, round(100 * p.judged_total / p.needed)) if p.needed else 0
    return render(request, "annotator/home.html", {"projects": projects})


@login_required
def project_detail(request, project_id: int):
    project = project_get_for_user(user=request.user, project_id=project_id)
    progress = project_progress(project=project, user=request.user)
    return render(
        request,
        "annotator/project_detail.html",
        {"project": project, "membership": project.membership, "progress": progress},
    )
