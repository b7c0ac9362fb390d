"""The rubric editor in Chromium: keyboard-first editing, reordering, publishing, conflicts."""

import re

import pytest

from rubrics.models import RubricVersion
from tests.factories import PASSWORD, UserFactory
from tests.helpers import login

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def add_with_keyboard(page, title, points):
    """Type a criterion into the add form and press Enter; wait for its row."""
    count = page.locator("#criteria-list > li.crit-row").count()
    page.keyboard.type(title)
    page.keyboard.press("Tab")  # to Points
    page.keyboard.press("Control+a")
    page.keyboard.type(points)
    page.keyboard.press("Enter")
    page.wait_for_function(f"() => document.querySelectorAll('#criteria-list > li.crit-row').length === {count + 1}")
    # The fresh add form takes the focus for the next criterion.
    page.wait_for_function("() => document.activeElement && document.activeElement.id === 'fnew-title'")


def row_titles(page):
    return page.locator("#criteria-list > li.crit-row .crit-title").all_inner_texts()


def test_an_admin_creates_a_set_adds_criteria_with_the_keyboard_reorders_and_publishes(
    page, live_server, screenshots_dir
):
    UserFactory(username="rubric-admin", is_staff=True)
    login(page, live_server, "rubric-admin", PASSWORD)

    page.click("nav.topnav >> text=Rubrics")
    page.click("text=New rubric set")
    page.fill("#id_name", "Helpfulness and safety")
    page.fill("#id_description", "Judges single chat responses for **helpfulness** and safety.")
    page.click("button:has-text('Create and open the draft')")
    page.wait_for_url(re.compile(r"/rubrics/helpfulness-and-safety/v/1/$"))

    page.keyboard.press("n")  # shortcut: focus the new-criterion form
    assert page.evaluate("document.activeElement.id") == "fnew-title"
    add_with_keyboard(page, "Answers the question that was asked", "5")
    add_with_keyboard(page, "Explains its reasoning clearly", "3")
    add_with_keyboard(page, "Invents a source or statistic", "-4")
    assert row_titles(page) == ["Answers the question that was asked", "Explains its reasoning clearly",
                                "Invents a source or statistic"]
    assert "Saved at" in page.inner_text("#save-state")
    pitfall = page.locator("#criteria-list > li.crit-row").nth(2)
    assert "Pitfall" in pitfall.inner_text() and "−4" in pitfall.inner_text()
    # The preview beside the editor shows what annotators will see.
    page.wait_for_function("() => document.querySelectorAll('#rubric-preview .criterion').length === 3")

    # Reorder with the keyboard: focus the pitfall and move it up one place.
    pitfall.focus()
    page.keyboard.press("Alt+ArrowUp")
    page.wait_for_function("() => document.querySelector('#save-state .save-text').textContent.startsWith('✓ Saved')")
    assert row_titles(page)[1] == "Invents a source or statistic"
    page.wait_for_function(
        "() => document.querySelectorAll('#rubric-preview .criterion-title')[1].textContent.includes('Invents')")
    page.mouse.move(0, 0)
    page.screenshot(path=str(screenshots_dir / "rubric-editor.png"), full_page=True)

    # The order is saved on the server, not only in the page.
    page.reload()
    assert row_titles(page)[1] == "Invents a source or statistic"

    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#publish-button")
    page.wait_for_url(re.compile(r"/rubrics/helpfulness-and-safety/$"))
    row = page.locator("#versions tr#version-1")
    assert "Published" in row.inner_text() and "3" in row.inner_text()
    assert "published v1" in page.inner_text("#history")
    page.screenshot(path=str(screenshots_dir / "rubric-set.png"), full_page=True)
    # …and in the list of rubric sets, as the newest published version.
    page.click("nav.topnav >> text=Rubrics")
    listed = page.locator("#rubric-sets tr", has_text="Helpfulness and safety")
    assert "v1" in listed.locator("td").nth(2).inner_text()

    version = RubricVersion.objects.get(rubric_set__slug="helpfulness-and-safety", number=1)
    assert version.status == "published" and len(version.content_hash) == 64
    assert list(version.criteria.order_by("position").values_list("key", "points")) == [
        ("answers_the_question_that_was_asked", 5), ("invents_a_source_or_statistic", -4),
        ("explains_its_reasoning_clearly", 3),
    ]


def test_two_admins_editing_the_same_criterion_the_second_sees_the_conflict(browser, live_server, screenshots_dir):
    from rubrics import services

    alice = UserFactory(username="alice", is_staff=True)
    UserFactory(username="bob", is_staff=True)
    draft = services.rubric_set_create(name="Support replies", actor=alice, criteria=[
        {"key": "resolves", "title": "Resolves the customer's problem", "points": 5, "kind": "hard_rule",
         "importance": "essential", "guidance": "The reply fixes the problem or gives the exact next step."},
        {"key": "polite", "title": "Polite and warm", "points": 2, "scale": "likert5"},
    ])
    published = services.rubric_version_publish(version=draft, actor=alice)
    services.rubric_draft_create(rubric_set=published.rubric_set, actor=alice, from_version=published)
    editor_url = f"{live_server.url}/rubrics/support-replies/v/2/"

    pages = {}
    for name in ("alice", "bob"):
        context = browser.new_context(viewport={"width": 1440, "height": 900})
        pages[name] = context.new_page()
        pages[name].set_default_timeout(15000)
        login(pages[name], live_server, name, PASSWORD)
        pages[name].goto(editor_url)
        pages[name].locator("#criteria-list > li.crit-row").first.locator("[data-action=edit]").click()
        pages[name].wait_for_selector("#criteria-list > li.editing")

    a, b = pages["alice"], pages["bob"]
    a.fill("li.editing input[name=points]", "6")
    a.keyboard.press("Control+Enter")
    a.wait_for_selector("#criteria-list > li.crit-row:not(.editing) >> text=+6")

    b.fill("li.editing input[name=title]", "Solves the customer's problem")
    b.click("li.editing button[type=submit]")
    b.wait_for_selector(".conflict-box")
    conflict = b.inner_text(".conflict-box")
    assert "alice changed `resolves`: points 5 → 6" in conflict
    assert b.input_value("li.editing input[name=title]") == "Solves the customer's problem"  # nothing lost
    assert "Not saved: conflict" in b.inner_text("#save-state")
    b.mouse.move(0, 0)
    b.screenshot(path=str(screenshots_dir / "rubric-conflict.png"), full_page=False)

    b.click("li.editing button:has-text('Save mine anyway')")
    b.wait_for_selector("#criteria-list > li.crit-row:not(.editing) >> text=Solves the customer's problem")
    resolves = draft.rubric_set.versions.get(number=2).criteria.get(key="resolves")
    assert (resolves.title, resolves.points) == ("Solves the customer's problem", 5)  # an explicit overwrite
    for p in pages.values():
        p.context.close()


def test_the_diff_page_lines_criteria_up_by_key(page, live_server, screenshots_dir):
    from rubrics import selectors, services

    admin = UserFactory(username="differ", is_staff=True)
    v1 = services.rubric_set_create(name="Maths answers", actor=admin, criteria=[
        {"key": "correct", "title": "Final answer is correct", "points": 6, "kind": "hard_rule",
         "importance": "essential"},
        {"key": "shows_work", "title": "Shows the working", "points": 3,
         "guidance": "Each step follows from the previous one.\nUnits are kept."},
        {"key": "rambles", "title": "Rambles", "points": -1},
    ])
    v1 = services.rubric_version_publish(version=v1, actor=admin)
    v2 = services.rubric_draft_create(rubric_set=v1.rubric_set, actor=admin, from_version=v1)
    work = v2.criteria.get(key="shows_work")
    services.criterion_update(version=v2, criterion_id=work.id, actor=admin, expected_criterion_revision=1, data={
        **selectors.criterion_as_dict(work), "points": 4, "scale": "likert5",
        "guidance": "Each step follows from the previous one.\nUnits are kept and checked at the end."})
    rambles = v2.criteria.get(key="rambles")
    services.criterion_delete(version=v2, criterion_id=rambles.id, expected_criterion_revision=1, actor=admin)
    services.criterion_add(version=v2, actor=admin, data={"title": "Checks the answer by substitution", "points": 2,
                                                          "importance": "optional"})
    login(page, live_server, "differ", PASSWORD)
    page.goto(f"{live_server.url}/rubrics/maths-answers/compare/?from=1&to=2")
    assert "1 added, 1 removed, 1 changed" in page.inner_text("#diff-summary")
    assert "Units are kept and checked at the end." in page.inner_text("#diff-changed")
    page.screenshot(path=str(screenshots_dir / "rubric-diff.png"), full_page=True)
