"""The editor's "annotator preview" is the comparison page's own rubric partial: same markup, same labels."""

from html.parser import HTMLParser
from io import StringIO

import pytest
from django.core.management import call_command
from django.template import engines
from django.urls import reverse

from annotator.models import Project, ProjectMembership
from tests.factories import MembershipFactory, UserFactory

PARTIAL = "annotator/_criteria.html"
# What differs by design: field names carry the response id (the preview has letters), ids get a
# "preview-" prefix beside the editor, and the preview's inputs are disabled.
PER_PAGE = {"name", "id", "aria-controls", "data-guidance", "disabled", "checked"}


class CriteriaMarkup(HTMLParser):
    """The tags (with their attributes, less PER_PAGE) and texts inside <ol class="criteria">."""

    def __init__(self):
        super().__init__()
        self.depth = 0
        self.tokens = []

    def handle_starttag(self, tag, attrs):
        if self.depth or (tag == "ol" and ("class", "criteria") in attrs):
            if tag not in ("input", "br"):
                self.depth += 1
            self.tokens.append((tag, sorted((k, v) for k, v in attrs if k not in PER_PAGE)))

    def handle_endtag(self, tag):
        if self.depth and tag not in ("input", "br"):
            self.depth -= 1

    def handle_data(self, data):
        if self.depth and data.strip():
            self.tokens.append(data.strip())


def criteria_markup(html: str) -> list:
    parser = CriteriaMarkup()
    parser.feed(html)
    return parser.tokens


def option_labels(tokens: list) -> list[str]:
    """The visible scale labels: the text right after each segmented option's radio."""
    return [tokens[i + 2] for i, t in enumerate(tokens)
            if isinstance(t, tuple) and t[0] == "input" and ("type", "radio") in t[1]]


@pytest.mark.django_db
def test_the_preview_renders_the_same_criterion_markup_and_labels_as_the_comparison_page(client, monkeypatch):
    call_command("load_demo", stdout=StringIO())
    project = Project.objects.get(name__startswith="Demo")
    user = UserFactory(username="previewer", is_staff=True)
    MembershipFactory(project=project, user=user, role=ProjectMembership.Role.ANNOTATOR)
    client.force_login(user)
    version = project.rubric_version

    def loaded_by(url: str) -> tuple:
        """The page, and the Jinja2 templates (config/jinja.py) it loaded."""
        env, names = engines["jinja2"].env, []
        real = env.get_template
        monkeypatch.setattr(env, "get_template", lambda name, *a, **k: names.append(name) or real(name, *a, **k))
        response = client.get(url)
        monkeypatch.undo()
        return response, names

    page, page_templates = loaded_by(reverse("annotator:annotate", args=[project.id]))
    preview, preview_templates = loaded_by(
        reverse("rubrics:version_preview", args=[version.rubric_set.slug, version.number]))

    assert PARTIAL in page_templates and PARTIAL in preview_templates
    on_page, in_preview = criteria_markup(page.content.decode()), criteria_markup(preview.content.decode())
    assert on_page and on_page == in_preview
    labels = option_labels(on_page)
    assert {"Met", "Not met", "Present", "Absent"} <= set(labels) and "Yes" not in labels
    titles = [c.title for c in version.criteria.order_by("position", "id")]
    assert len(titles) == 7 and all(t in in_preview for t in titles)


@pytest.mark.django_db
def test_the_preview_marks_pitfalls_and_disables_its_inputs(client):
    call_command("load_demo", stdout=StringIO())
    version = Project.objects.get(name__startswith="Demo").rubric_version
    client.force_login(UserFactory(username="editor", is_staff=True))
    body = client.get(reverse("rubrics:version_preview", args=[version.rubric_set.slug, version.number]),
                      HTTP_HX_REQUEST="true").content.decode()
    pitfalls = version.criteria.filter(points__lt=0).count()
    assert pitfalls and body.count("seg-pitfall") == 2 * pitfalls
    assert body.count("<input") == body.count(" disabled>")
