"""Forms: parse and check input; the services do the work.

The comparison page is not a Django form (its fields depend on the item and the rubric): it is read
by `judgment_from_post` into a JudgmentInput plus the state to re-render what the annotator entered.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

from django import forms
from django.contrib.auth import get_user_model
from django.db.models import Q
from django.template import defaultfilters

from config.errors import PayloadTooLargeError

from .formats import FORMAT_CHOICES, import_check_size
from .models import Assignment, Project, ProjectMembership, Response
from .services import JudgmentInput, preference_to_canonical, preference_to_shown

PREFERENCE_LABELS = {
    -3: "{a} much better", -2: "{a} better", -1: "{a} slightly better", 0: "Tie",
    1: "{b} slightly better", 2: "{b} better", 3: "{b} much better",
}


def preference_text(preference: int | None, both_bad: bool, ranking: list, labels: dict[int, str]) -> str:
    """A judgment in words, with responses named by their stored position (1, 2, …)."""
    parts = []
    if ranking:
        parts.append(" > ".join(labels.get(r, "?") for r in ranking))
    elif preference is not None:
        parts.append(PREFERENCE_LABELS[preference].format(a=f"Response {labels['first']}",
                                                           b=f"Response {labels['second']}"))
    if both_bad:
        parts.append("both bad" if not ranking and preference is None else "(both bad)")
    return " ".join(parts) or "—"


def shown_text(shown_order: list[int], position_labels: dict[int, str]) -> str:
    """What the annotator saw as A, B, … in terms of stored positions: "A=2 · B=1"."""
    return " · ".join(f"{chr(65 + i)}={position_labels.get(rid, '?')}" for i, rid in enumerate(shown_order[:26]))


def responses_numbered(item) -> list[Response]:
    """The item's responses in stored order, each with `.label` "1", "2", … (item and review pages)."""
    responses = list(item.responses.all())
    for i, r in enumerate(responses):
        r.label = str(i + 1)
    return responses


def rank_rows(responses: list[Response], ranks: dict[int, int]) -> list[dict]:
    """Per response, the rank it holds (1 = best) or None: one input each (O(responses) markup)."""
    return [{"response": r, "rank": ranks.get(r.id)} for r in responses]


def ranks_of(ranking: list[int]) -> dict[int, int]:
    """Response ids best first → {response id: rank}."""
    return {rid: i + 1 for i, rid in enumerate(ranking)}


class ProjectForm(forms.ModelForm):
    """Create or edit a project. The rubric choices are published, non-archived versions."""

    class Meta:
        model = Project
        fields = [
            "name", "description", "rubric_version", "overlap", "guidelines", "rationale_required",
            "randomize_order", "hide_model_identities", "show_model_scores", "queue_order", "lease_minutes",
        ]
        widgets = {
            "description": forms.Textarea(attrs={"rows": 2}),
            "guidelines": forms.Textarea(attrs={"rows": 10, "class": "mono"}),
        }
        labels = {
            "overlap": "Judgments per item (overlap)",
            "randomize_order": "Randomise the A/B order per assignment",
            "hide_model_identities": "Hide model names from annotators",
            "show_model_scores": "Show reward-model scores while annotating",
            "rationale_required": "Require a written rationale",
            "lease_minutes": "Lease length (minutes)",
        }
        help_texts = {
            "guidelines": "Markdown. Annotators open it from the comparison page (G).",
            "overlap": "Exactly this many different annotators judge every item.",
            "lease_minutes": "How long an opened item stays reserved; the open page keeps extending it.",
            "rubric_version": "Judgments already made keep the version they were made with; judgments submitted "
            "from now on use the one chosen here.",
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        from rubrics.models import RubricVersion
        from rubrics.selectors import rubric_versions_for_new_projects

        choices = rubric_versions_for_new_projects()
        current = self.instance.rubric_version_id if self.instance and self.instance.pk else None
        if current:
            # An archived version stays selectable for the project already pinned to it.
            choices = (
                RubricVersion.objects.filter(Q(pk__in=choices.values("pk")) | Q(pk=current))
                .select_related("rubric_set").order_by("rubric_set__name", "rubric_set_id", "-number")
            )
        self.fields["rubric_version"].queryset = choices
        self.fields["rubric_version"].label_from_instance = (
            lambda v: f"{v.rubric_set.name} v{v.number}" + (" (archived)" if v.status == "archived" else "")
        )
        self.fields["rubric_version"].empty_label = "No rubric (preference only)"


class MemberAddForm(forms.Form):
    """Add an existing account. An unknown username is answered with where to go: the invite form."""

    username = forms.CharField(max_length=150)
    role = forms.ChoiceField(choices=ProjectMembership.Role.choices, initial=ProjectMembership.Role.ANNOTATOR)

    def clean_username(self):
        from accounts.selectors import is_pending

        username = self.cleaned_data["username"].strip()
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            self.unknown_username = username
            raise forms.ValidationError(
                f"No account is named “{username}”. To give them one, invite them below: they get a link to "
                "set a password and land in this project.", code="unknown")
        if not user.is_active and not is_pending(user):
            raise forms.ValidationError(
                f"{username}'s account is deactivated; a site admin can reactivate it on the Users page.",
                code="inactive")
        self.cleaned_data["user"] = user
        return username


class MemberInviteForm(forms.Form):
    """Invite someone new into the project: an account and a one-time set-password link."""

    username = forms.CharField(max_length=150, help_text="What they will log in with.")
    email = forms.EmailField(required=False, help_text="Optional: the link is emailed there too.")
    role = forms.ChoiceField(choices=ProjectMembership.Role.choices, initial=ProjectMembership.Role.ANNOTATOR)


class MemberRoleForm(forms.Form):
    role = forms.ChoiceField(choices=ProjectMembership.Role.choices)


class ImportForm(forms.Form):
    file = forms.FileField(help_text="JSONL, one item a line.")
    format = forms.ChoiceField(choices=FORMAT_CHOICES, initial="auto")
    gold = forms.BooleanField(
        required=False, label="Use the file's labels as gold answers",
        help_text="For labelled formats (TRL, HelpSteer2, RewardBench): annotators' accuracy on these items is "
        "reported on the review page. Annotators never see the label.",
    )

    def clean_file(self):
        f = self.cleaned_data["file"]
        try:
            import_check_size(f.size)
        except PayloadTooLargeError as exc:
            # The view answers 413 for this code (ImportForm.too_large).
            raise forms.ValidationError(exc.message, code=exc.code)
        return f

    @property
    def too_large(self) -> bool:
        return self.has_error("file", code=PayloadTooLargeError.code)


# --- Preference, ranking, gold (item pages) ------------------------------------------------------


def _int_or_none(value: str | None) -> int | None:
    if value in (None, ""):
        return None
    try:
        return int(value)
    except ValueError:
        return None


@dataclass
class LabelInput:
    """A final or gold label from a review/item form, canonical (by stored position)."""

    preference: int | None
    both_bad: bool
    ranking: list[int]
    rationale: str = ""


def label_from_post(post, responses: list[Response]) -> LabelInput:
    """preference (by position, -3..3), both_bad, rank-<response id> (1 = best), rationale."""
    ranking: list[int] = []
    if len(responses) > 2:
        ranks = {r.id: _int_or_none(post.get(f"rank-{r.id}")) for r in responses}
        if all(v is not None for v in ranks.values()):
            ranking = [rid for rid, _ in sorted(ranks.items(), key=lambda kv: kv[1])]
            if sorted(ranks.values()) != list(range(1, len(responses) + 1)):
                ranking = []
    return LabelInput(
        preference=_int_or_none(post.get("preference")) if len(responses) == 2 else None,
        both_bad=post.get("both_bad") in ("1", "on", "true"),
        ranking=ranking,
        rationale=post.get("rationale", "")[:20000],
    )


# --- The comparison page --------------------------------------------------------------------------


@dataclass
class JudgmentState:
    """What the comparison page shows as entered, in the annotator's terms (A, B, …)."""

    preference: int | None = None  # shown scale: negative = A better
    both_bad: bool = False
    ranks: dict[int, int] = field(default_factory=dict)  # response id → rank (1 = best)
    scores: dict[str, str] = field(default_factory=dict)  # "<response id>-<criterion id>" → value
    rationale: str = ""
    time_spent_ms: int = 0


def _number(value: str) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number == number and abs(number) < 1e6 else None  # no NaN, no absurd values


def judgment_from_post(post, *, assignment: Assignment, responses: list[Response], criteria: list
                       ) -> tuple[JudgmentInput, JudgmentState]:
    """Read the comparison form. Unparseable values are left out, so the service reports them as missing."""
    state = JudgmentState(
        preference=_int_or_none(post.get("preference")),
        both_bad=post.get("both_bad") in ("1", "on", "true"),
        rationale=post.get("rationale", "")[:20000],
        time_spent_ms=max(0, _int_or_none(post.get("time_spent_ms")) or 0),
    )
    scores: dict[tuple[int, int], float] = {}
    for r in responses:
        for c in criteria:
            key = f"{r.id}-{c.id}"
            raw = post.get(f"score-{key}", "")
            if raw != "":
                state.scores[key] = raw
                number = _number(raw)
                if number is not None:
                    scores[(r.id, c.id)] = number
    ranking: list[int] = []
    if len(responses) > 2:
        for r in responses:
            rank = _int_or_none(post.get(f"rank-{r.id}"))
            if rank is not None:
                state.ranks[r.id] = rank
        if len(state.ranks) == len(responses) and sorted(state.ranks.values()) == list(range(1, len(responses) + 1)):
            ranking = [rid for rid, _ in sorted(state.ranks.items(), key=lambda kv: kv[1])]
    preference = None
    if len(responses) == 2 and state.preference is not None:
        if -3 <= state.preference <= 3:
            preference = preference_to_canonical(shown_order=assignment.shown_order, responses=responses,
                                                 shown_preference=state.preference)
        else:
            state.preference = None
    data = JudgmentInput(
        preference=preference, both_bad=state.both_bad, ranking=ranking, scores=scores,
        rationale=state.rationale, time_spent_ms=state.time_spent_ms,
    )
    return data, state


def state_from_judgment(data: JudgmentInput, *, assignment: Assignment, responses: list[Response]) -> JudgmentState:
    """Prefill the page from a stored (undone) judgment."""
    return JudgmentState(
        preference=preference_to_shown(shown_order=assignment.shown_order, responses=responses,
                                       preference=data.preference) if len(responses) == 2 else None,
        both_bad=data.both_bad,
        ranks={rid: i + 1 for i, rid in enumerate(data.ranking)},
        scores={f"{rid}-{cid}": _format_value(v) for (rid, cid), v in data.scores.items()},
        rationale=data.rationale,
        time_spent_ms=data.time_spent_ms,
    )


def _format_value(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def is_pitfall(criterion) -> bool:
    """A criterion that costs points when met ("Fabricates a citation", −6 pts)."""
    return criterion.importance == "pitfall" or criterion.points < 0


def binary_labels(criterion) -> tuple[tuple[str, str], tuple[str, str]]:
    """The one vocabulary of the binary scale, for the annotate page and the editor's preview:
    Met / Not met, and Present / Absent for pitfalls (met is the bad answer there)."""
    if is_pitfall(criterion):
        return ("1", "Present"), ("0", "Absent")
    return ("1", "Met"), ("0", "Not met")


def criterion_options(criterion) -> list[tuple[str, str]] | None:
    """(value, label) choices for a criterion's scale; None means a free number input."""
    if criterion.scale == "binary":
        return list(binary_labels(criterion))
    if criterion.scale == "likert5":
        return [(str(i), str(i)) for i in range(1, 6)]
    points = criterion.points
    if float(points).is_integer() and abs(points) <= 10:
        step = 1 if points >= 0 else -1
        return [(str(v), f"{v:+d}" if v else "0") for v in range(0, int(points) + step, step)]
    return None


@dataclass(slots=True)
class GridOption:
    value: str
    label: str
    checked: bool


@dataclass(slots=True)
class GridCell:
    """One criterion × response: a radio group (`options`) or a number input (`options` None)."""

    response: object
    name: str
    value: str
    error: str | None
    options: list[GridOption] | None
    min: float
    max: float


@dataclass(slots=True)
class GridRow:
    criterion: object
    cells: list[GridCell]
    pitfall: bool
    guidance_hint: str  # the guidance as plain text, shortened: the title's tooltip
    points_label: str  # "5", "-2.5"


@lru_cache(maxsize=4096)
def guidance_hint(guidance: str) -> str:
    """A criterion's guidance as a tooltip: plain text, at most 600 characters (per distinct text)."""
    return defaultfilters.truncatechars(defaultfilters.striptags(guidance), 600)


def criteria_grid(criteria, responses, state: JudgmentState | None = None, errors: dict | None = None) -> list[GridRow]:
    """One row per criterion, one cell per response, each cell its scale's choices: what
    templates/jinja2/annotator/_criteria.html renders on the comparison page and in the editor's
    preview. Rows, cells and options are slotted objects: the template reads ~600 of their
    attributes per item."""
    state = state or JudgmentState()
    errors = errors or {}
    rows = []
    for c in criteria:
        options = criterion_options(c)
        cells = []
        for r in responses:
            key = f"{r.id}-{c.id}"
            value = state.scores.get(key, "")
            cells.append(GridCell(
                response=r, name=f"score-{key}", value=value, error=errors.get(f"score-{key}"),
                options=[GridOption(v, label, v == value) for v, label in options] if options is not None else None,
                min=min(0, c.points), max=max(0, c.points),
            ))
        rows.append(GridRow(criterion=c, cells=cells, pitfall=is_pitfall(c),
                            guidance_hint=guidance_hint(c.guidance or ""),
                            points_label=defaultfilters.floatformat(c.points, "-1")))
    return rows
