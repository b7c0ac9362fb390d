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


def test_the_comparison_page_screenshots(browser, live_server, password, screenshots_dir):
    """At 1366×850 (a common laptop): the page mid-item, the shortcuts overlay, the guidelines drawer.
    The phone screenshots come from the 390 px test below."""
    project, _ = _demo("alex")
    context = browser.new_context(viewport={"width": 1366, "height": 850}, device_scale_factor=1)
    page = context.new_page()
    login(page, live_server, "alex", password)
    page.goto(f"{live_server.url}/projects/{project.id}/annotate/")
    page.wait_for_selector("#workspace[data-ready]")
    # A realistic moment: three criteria answered, the fourth active.
    for key in ("y", "y", "y", "n", "4", "3"):
        page.keyboard.press(key)
    page.screenshot(path=str(screenshots_dir / "annotate.png"))
    # The ⓘ shows a criterion's guidance (static/js/guidance.js, shared with the editor's preview).
    info = page.locator("#judgment-form .criteria > li:first-child button.info")
    info.click()
    assert info.get_attribute("aria-expanded") == "true"
    assert page.locator("#judgment-form .criteria > li:first-child .guidance").is_visible()
    info.click()

    page.keyboard.press("?")
    page.wait_for_selector("#help-dialog[open]")
    page.screenshot(path=str(screenshots_dir / "annotate-shortcuts.png"))
    page.keyboard.press("Escape")
    page.keyboard.press("g")
    page.wait_for_selector("#guidelines-drawer:not([hidden])")
    page.screenshot(path=str(screenshots_dir / "annotate-guidelines.png"))
    context.close()


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



class CountingKeyboard:
    """Presses keys on the page and counts every one of them."""

    def __init__(self, page):
        self.page, self.pressed = page, []

    def press(self, *keys: str) -> None:
        for key in keys:
            self.page.keyboard.press(key)
            self.pressed.append(key)


DEMO_ANSWERS = {"binary": ("y", "n"), "likert5": ("4", "2")}  # response A, response B


def _demo_keys(criteria) -> list[str]:
    """Every key that scores the demo item: each criterion for A then B, overall "5", Enter."""
    return [k for c in criteria for k in DEMO_ANSWERS[c.scale]] + ["5", "Enter"]


def test_the_demo_item_is_scored_completely_in_at_most_17_keystrokes(page, live_server, password):
    """The focus model: each key answers the active cell (A, then B, then the next criterion), the
    overall panel comes next with its own 1–7, and Enter submits. Before: ~35 keys (Tab + arrows).
    Every key pressed from the page load to the next item is counted."""
    project, user = _demo("kai")
    criteria = list(project.rubric_version.criteria.order_by("position", "id"))
    assert len(criteria) == 7
    login(page, live_server, "kai", password)
    page.goto(f"{live_server.url}/projects/{project.id}/annotate/")
    item_id = _wait_for_new_item(page, None)
    keyboard = CountingKeyboard(page)
    keyboard.press(*_demo_keys(criteria))
    _wait_for_new_item(page, item_id)
    # 7 criteria × 2 responses + the overall preference + submit.
    assert len(keyboard.pressed) == 2 * len(criteria) + 2 == 16, keyboard.pressed
    judgment = Judgment.objects.get(annotator=user)
    assignment = judgment.assignment
    assert judgment.preference == _canonical(assignment, 1)
    stored = {(s.response_id, s.criterion_id): s.value for s in CriterionJudgment.objects.filter(judgment=judgment)}
    expected = {}
    for c in criteria:
        for key, rid in zip(DEMO_ANSWERS[c.scale], assignment.shown_order, strict=True):
            expected[(rid, c.id)] = {"y": 1, "n": 0}.get(key) if c.scale == "binary" else int(key)
    assert stored == expected


def test_enter_on_an_incomplete_item_goes_to_the_first_missing_answer(page, live_server, password):
    project, user = _demo("noor")
    login(page, live_server, "noor", password)
    page.goto(f"{live_server.url}/projects/{project.id}/annotate/")
    page.wait_for_selector("#workspace[data-ready]")
    page.keyboard.press("y")  # the first criterion for A; B is next
    page.keyboard.press("Tab")  # move away: Enter must bring the focus back to what is missing
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    active = page.evaluate("() => { const c = document.activeElement.closest('.cell');"
                           " return c && c.getAttribute('aria-label'); }")
    first = project.rubric_version.criteria.order_by("position", "id").first()
    assert active == f"{first.title}, response B"
    assert page.locator(".criterion-active .cell-active").count() == 1
    assert not Judgment.objects.filter(annotator=user).exists()


# Wholly in view: inside the viewport and not cut by any scrolling or clipping box around it.
IN_VIEW = """sel => {
  const el = document.querySelector(sel), r = el.getBoundingClientRect();
  if (!r.height || r.top < 0 || r.left < 0 || r.bottom > innerHeight || r.right > innerWidth) return false;
  for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
    const s = getComputedStyle(p);
    if (s.overflowX === "visible" && s.overflowY === "visible") continue;
    const q = p.getBoundingClientRect();
    const cut = r.top < q.top - 0.5 || r.bottom > q.bottom + 0.5 || r.left < q.left - 0.5 || r.right > q.right + 0.5;
    if (cut) return false;
  }
  return true;
}"""


def _in_view(page, selector: str) -> bool:
    return page.evaluate(IN_VIEW, selector)


def test_at_1366x850_the_whole_rubric_and_submit_stay_in_view_after_a_notice(browser, live_server, password,
                                                                             screenshots_dir):
    """Without scrolling: the 7th criterion and Submit, on the first item and after "Saved." appears."""
    project, _ = _demo("lee")
    context = browser.new_context(viewport={"width": 1366, "height": 850}, device_scale_factor=1)
    page = context.new_page()
    login(page, live_server, "lee", password)
    page.goto(f"{live_server.url}/projects/{project.id}/annotate/")
    item_id = _wait_for_new_item(page, None)
    criteria = list(project.rubric_version.criteria.order_by("position", "id"))
    last, submit = "#judgment-form .criteria > li:last-child", "#submit-button"
    assert page.evaluate("document.documentElement.scrollWidth") == 1366
    assert _in_view(page, last) and _in_view(page, submit)

    for key in _demo_keys(criteria):
        page.keyboard.press(key)
    _wait_for_new_item(page, item_id)
    assert page.locator("#ws-notice").is_visible() and "Saved." in page.inner_text("#ws-notice")
    assert page.evaluate("window.scrollY") == 0
    assert page.locator("#judgment-form .criteria > li").count() == 7
    for selector in (last, submit):
        assert _in_view(page, selector), (selector, page.locator(selector).bounding_box())
    page.screenshot(path=str(screenshots_dir / "annotate-saved.png"))
    context.close()


def test_on_a_390px_phone_nothing_overflows_and_the_rubric_is_one_tap_away(browser, live_server, password,
                                                                          screenshots_dir):
    project, _ = _demo("lou")
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2,
                                  has_touch=True, is_mobile=True)
    page = context.new_page()
    login(page, live_server, "lou", password)
    page.goto(f"{live_server.url}/projects/{project.id}/annotate/")
    page.wait_for_selector("#workspace[data-ready]")
    width = "() => [document.documentElement.scrollWidth, window.innerWidth]"
    assert page.evaluate(width) == [390, 390]
    for selector in ("[data-open=help]", "#my-count", ".ws-progress .ws-meter:last-child"):
        box = page.locator(selector).bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 390, (selector, box)
    # Response A first; B and the rubric are hidden, each behind one tab.
    assert page.locator("#response-A").is_visible() and not page.locator("#response-B").is_visible()
    assert not page.locator("#judgment-panel").is_visible()
    page.screenshot(path=str(screenshots_dir / "annotate-narrow.png"))

    page.locator(".ws-tab[data-tab=judgment-panel]").tap()
    page.wait_for_selector("#judgment-panel", state="visible")
    assert not page.locator("#response-A").is_visible()
    assert _in_view(page, "#judgment-form .criteria > li:first-child")
    assert page.get_attribute(".ws-tab[data-tab=judgment-panel]", "aria-selected") == "true"
    assert page.inner_text("#ws-tab-count") == "0/14"
    page.locator("#judgment-form .criteria > li:first-child .cell.resp-0 .seg-opt").first.tap()
    assert page.inner_text("#ws-tab-count") == "1/14"
    assert page.evaluate(width) == [390, 390]
    page.screenshot(path=str(screenshots_dir / "annotate-narrow-rubric.png"))

    page.locator(".ws-tab[data-tab=response-B]").tap()
    assert page.locator("#response-B").is_visible() and not page.locator("#judgment-panel").is_visible()
    assert _in_view(page, "#response-B .response-head")
    context.close()
