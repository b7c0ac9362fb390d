"""The comparison page in Chromium: keyboard only, undo, skip, double-click; screenshots."""

from io import StringIO

import pytest
from django.core.management import call_command

from annotator.models import Assignment, CriterionJudgment, Judgment, Project, ProjectMembership
from tests.factories import ItemFactory, MembershipFactory, ProjectFactory, UserFactory, published_version
from tests.helpers import login

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

# Per criterion (binary, likert5, points −2): the keys pressed in the radio group of response A and
# of response B, and the values they select. Space picks the first option; each → moves one on.
KEYS = {
    "binary": ((["Space"], 1), (["ArrowRight"], 0)),
    "likert5": ((["ArrowRight"] * 3, 4), (["Space"], 1)),
    "points": ((["ArrowRight"], -1), (["ArrowRight", "ArrowRight"], -2)),
}


def _current_item(page) -> int:
    return int(page.get_attribute("#workspace", "data-item"))


def _wait_for_new_item(page, previous: int | None) -> int:
    page.wait_for_function(
        "prev => { const w = document.querySelector('#workspace'); return w && w.dataset.ready &&"
        " w.dataset.item && w.dataset.item !== String(prev); }", arg=previous)
    return _current_item(page)


def _score_by_keyboard(page, scales: list[str]) -> None:
    """Focus starts on the first criterion; Tab moves A → B → next criterion."""
    first = True
    for scale in scales:
        for keys, _ in KEYS[scale]:
            if not first:
                page.keyboard.press("Tab")
            first = False
            for key in keys:
                page.keyboard.press(key)


def _expected_scores(assignment, criteria) -> dict:
    expected = {}
    for c in criteria:
        for (_, value), rid in zip(KEYS[c.scale], assignment.shown_order, strict=True):
            expected[(rid, c.id)] = value
    return expected


def _canonical(assignment, shown: int) -> int:
    first_by_position = min(assignment.item.responses.all(), key=lambda r: r.position).id
    return shown if assignment.shown_order[0] == first_by_position else -shown


def test_an_annotator_judges_undoes_skips_and_double_clicks_using_the_keyboard(page, live_server, password):
    version = published_version(criteria=3)
    criteria = list(version.criteria.order_by("position"))
    scales = [c.scale for c in criteria]
    project = ProjectFactory(name="Keyboard pairs", rubric_version=version, overlap=1)
    items = [ItemFactory(project=project, external_id=f"kb-{i}",
                         responses=[f"Answer one to question {i}", f"Answer two to question {i}"]) for i in range(6)]
    user = UserFactory(username="typist")
    MembershipFactory(project=project, user=user, role=ProjectMembership.Role.ANNOTATOR)

    login(page, live_server, "typist", password)
    page.goto(f"{live_server.url}/projects/{project.id}/annotate/")
    seen = [_wait_for_new_item(page, None)]
    shown_prefs = {}

    # Three items judged with the keyboard only: criteria with Tab/arrows/Space, 1–7, Enter.
    for key, shown in (("2", -2), ("4", 0), ("7", 3)):
        item_id = seen[-1]
        _score_by_keyboard(page, scales)
        page.keyboard.press(f"Shift+{key}")  # the preference's own keys: a focused criterion keeps plain digits
        assert page.is_checked(f"#judgment-form input[name=preference][value='{shown}']")
        page.keyboard.press("Enter")
        shown_prefs[item_id] = shown
        seen.append(_wait_for_new_item(page, item_id))
    assert "Saved." in page.inner_text("#ws-notice")
    assert seen[:3] == [i.id for i in items[:3]]

    # U brings the third back with what was entered; change the answer to 6 and submit again.
    page.keyboard.press("u")
    assert _wait_for_new_item(page, seen[3]) == seen[2]
    assert page.is_checked("#judgment-form input[name=preference][value='3']")
    page.keyboard.press("6")
    page.keyboard.press("Enter")
    shown_prefs[seen[2]] = 2
    assert _wait_for_new_item(page, seen[2]) == seen[3]

    # S skips the fourth.
    page.keyboard.press("s")
    fifth = _wait_for_new_item(page, seen[3])
    assert fifth == items[4].id

    # A double-click on submit stores one judgment.
    _score_by_keyboard(page, scales)
    page.keyboard.press("Shift+1")
    page.dblclick("#submit-button")
    _wait_for_new_item(page, fifth)
    shown_prefs[fifth] = -3

    judgments = {j.item_id: j for j in Judgment.objects.select_related("assignment", "item")}
    assert set(judgments) == {seen[0], seen[1], seen[2], fifth}
    assert Judgment.objects.filter(item_id=fifth).count() == 1
    for item_id, judgment in judgments.items():
        assignment = judgment.assignment
        assert judgment.preference == _canonical(assignment, shown_prefs[item_id])
        assert not judgment.both_bad and judgment.rubric_version == version
        assert judgment.time_spent_ms > 0
        stored = {(s.response_id, s.criterion_id): s.value for s in CriterionJudgment.objects.filter(judgment=judgment)}
        assert stored == _expected_scores(assignment, criteria)
    skipped = Assignment.objects.get(item=items[3])
    assert skipped.status == Assignment.Status.SKIPPED and not Judgment.objects.filter(item=items[3]).exists()
    assert [i.submitted_count for i in Project.objects.get(pk=project.pk).items.order_by("id")] == [1, 1, 1, 0, 1, 0]


def _demo(annotator_name: str):
    call_command("load_demo", stdout=StringIO())
    project = Project.objects.get(name__startswith="Demo")
    user = UserFactory(username=annotator_name)
    MembershipFactory(project=project, user=user, role=ProjectMembership.Role.ADMIN)
    return project, user


def test_the_comparison_page_screenshots(page, browser, live_server, password, screenshots_dir):
    project, _ = _demo("alex")
    login(page, live_server, "alex", password)
    page.goto(f"{live_server.url}/projects/{project.id}/annotate/")
    page.wait_for_selector("#workspace[data-ready]")
    # A realistic moment: some criteria answered, a preference chosen.
    page.keyboard.press("Space")
    page.keyboard.press("Tab")
    page.keyboard.press("Space")
    page.keyboard.press("Tab")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("Shift+3")
    page.screenshot(path=str(screenshots_dir / "annotate.png"))

    page.keyboard.press("?")
    page.wait_for_selector("#help-dialog[open]")
    page.screenshot(path=str(screenshots_dir / "annotate-shortcuts.png"))
    page.keyboard.press("Escape")
    page.keyboard.press("g")
    page.wait_for_selector("#guidelines-drawer:not([hidden])")
    page.screenshot(path=str(screenshots_dir / "annotate-guidelines.png"))

    narrow = browser.new_context(viewport={"width": 420, "height": 900})
    phone = narrow.new_page()
    login(phone, live_server, "alex", password)
    phone.goto(f"{live_server.url}/projects/{project.id}/annotate/")
    phone.wait_for_selector("#workspace[data-ready]")
    phone.screenshot(path=str(screenshots_dir / "annotate-narrow.png"), full_page=False)
    # Stacked: response B sits below response A.
    a, b = phone.locator("#response-A").bounding_box(), phone.locator("#response-B").bounding_box()
    assert b["y"] > a["y"] + a["height"] - 1
    narrow.close()


def test_a_ranking_item_is_ranked_with_letter_keys(page, live_server, password, screenshots_dir):
    version = published_version(criteria=2)
    project = ProjectFactory(name="RewardBench 2 style", rubric_version=version, overlap=1)
    item = ItemFactory(project=project, prompt=[{"role": "user", "content": "Name a prime below 10 and say why."}],
                       responses=["**7**: divisible only by 1 and itself.", "8: it is even.",
                                  "9 is prime because it is odd.", "**2**, the only even prime."])
    user = UserFactory(username="ranker")
    MembershipFactory(project=project, user=user)
    login(page, live_server, "ranker", password)
    page.goto(f"{live_server.url}/projects/{project.id}/annotate/")
    page.wait_for_selector("#workspace[data-ready][data-mode=rank]")
    for key in ("Space", "Tab", "Space", "Tab", "Space", "Tab", "Space",
                "Tab", "ArrowRight", "Tab", "ArrowRight", "Tab", "ArrowRight", "Tab", "ArrowRight"):
        page.keyboard.press(key)
    for letter in "dacb":
        page.keyboard.press(letter)
    page.screenshot(path=str(screenshots_dir / "annotate-ranking.png"))
    page.keyboard.press("Enter")
    page.wait_for_selector(".ws-empty")
    shown = Assignment.objects.get(item=item).shown_order
    judgment = Judgment.objects.get(item=item)
    assert judgment.ranking == [shown[3], shown[0], shown[2], shown[1]]
    assert judgment.preference is None



def test_the_demo_item_is_scored_completely_in_at_most_17_keystrokes(page, live_server, password):
    """The focus model: each key answers the active cell (A, then B, then the next criterion), the
    overall panel comes next with its own 1–7, and Enter submits. Before: ~35 keys (Tab + arrows)."""
    project, user = _demo("kai")
    criteria = list(project.rubric_version.criteria.order_by("position", "id"))
    login(page, live_server, "kai", password)
    page.goto(f"{live_server.url}/projects/{project.id}/annotate/")
    item_id = _wait_for_new_item(page, None)
    answer = {"binary": ("y", "n"), "likert5": ("4", "2")}
    keys = [k for c in criteria for k in answer[c.scale]]
    # Enter on an incomplete form goes to the first missing answer instead of submitting.
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.closest('.cell') !== null")
    keys += ["5", "Enter"]  # overall: B slightly better, then submit
    for key in keys:
        page.keyboard.press(key)
    _wait_for_new_item(page, item_id)
    assert len(keys) <= 17, len(keys)
    judgment = Judgment.objects.get(annotator=user)
    assignment = judgment.assignment
    assert judgment.preference == _canonical(assignment, 1)
    stored = {(s.response_id, s.criterion_id): s.value for s in CriterionJudgment.objects.filter(judgment=judgment)}
    expected = {}
    for c in criteria:
        a, b = answer[c.scale]
        for key, rid in zip((a, b), assignment.shown_order, strict=True):
            expected[(rid, c.id)] = {"y": 1, "n": 0}.get(key) if c.scale == "binary" else int(key)
    assert stored == expected


@pytest.mark.parametrize("size", [(1366, 850), (390, 844)])
def test_the_comparison_page_fits_the_screen(browser, live_server, password, size):
    """1366×850: the whole demo rubric and Submit in view without scrolling. 390 px: no horizontal overflow."""
    project, _ = _demo("lee")
    context = browser.new_context(viewport={"width": size[0], "height": size[1]})
    page = context.new_page()
    login(page, live_server, "lee", password)
    page.goto(f"{live_server.url}/projects/{project.id}/annotate/")
    page.wait_for_selector("#workspace[data-ready]")
    assert page.evaluate("document.documentElement.scrollWidth") <= size[0]
    if size[0] >= 1000:
        for selector in ("#judgment-form .criteria > li:last-child", "#submit-button"):
            box = page.locator(selector).bounding_box()
            assert box["y"] >= 0 and box["y"] + box["height"] <= size[1], (selector, box)
    context.close()
