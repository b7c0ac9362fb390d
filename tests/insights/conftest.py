"""Projects with known answers for the Insights tests, built in bulk with the ORM."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import timedelta

import pytest

from rubrics.models import Criterion
from tests.factories import MembershipFactory, ProjectFactory, ScorerFactory, UserFactory

from .builders import T0, Role, add_item, judge, rubric, score


@pytest.fixture(autouse=True)
def fewer_replicates(settings):
    """Fewer bootstrap resamples than production: the statistics are tested in test_agreement_maths.py."""
    settings.INSIGHTS_REPLICATES = 200
    settings.INSIGHTS_LEADERBOARD_REPLICATES = 40


@dataclass
class Simulated:
    project: object
    admin: object
    reviewer: object
    annotator: object
    annotators: list
    criteria: dict = field(default_factory=dict)
    scorer: object = None
    items: list = field(default_factory=list)


@pytest.fixture
def simulated(db) -> Simulated:
    """60 pairs judged by three annotators (model-b better two times in three), a rubric with an
    informative, a redundant, a reversed and a noise criterion, and a reward model that agrees
    with the humans on most pairs.

    - `informative` (binary, +3): 1 for the response the annotator preferred, 0 for the other
      (both 1 one time in ten);
    - `redundant` (binary, +2): informative again, 5 % of values flipped;
    - `reversed` (binary, +2): 1 for the response the annotator did not prefer (85 %), else random;
    - `noise` (likert5, +1): random.
    The third annotator (`hasty`) always picks the response shown first, in a quarter of the time.
    """
    version = rubric(
        [("informative", "binary", 3), ("redundant", "binary", 2), ("reversed", "binary", 2), ("noise", "likert5", 1)]
    )
    project = ProjectFactory(name="Simulated pairs", rubric_version=version, overlap=3)
    admin, reviewer = UserFactory(username="sim-admin"), UserFactory(username="sim-reviewer")
    MembershipFactory(project=project, user=admin, role=Role.ADMIN)
    MembershipFactory(project=project, user=reviewer, role=Role.REVIEWER)
    people = [UserFactory(username=name) for name in ("careful", "steady", "hasty")]
    for person in people:
        MembershipFactory(project=project, user=person, role=Role.ANNOTATOR)
    annotator = UserFactory(username="sim-annotator")
    MembershipFactory(project=project, user=annotator, role=Role.ANNOTATOR)
    criteria = {c.key: c for c in Criterion.objects.filter(version=version)}
    scorer = ScorerFactory(name="rm-good")
    rng = random.Random(7)
    data = Simulated(
        project=project,
        admin=admin,
        reviewer=reviewer,
        annotator=annotator,
        annotators=people,
        criteria=criteria,
        scorer=scorer,
    )
    for n in range(60):
        better = 1 if rng.random() < 2 / 3 else 0  # model-b (position 1) wins two times in three
        item = add_item(project, f"sim-{n}", metadata={"subset": "chat" if n % 2 else "reasoning"})
        data.items.append(item)
        for k, person in enumerate(people):
            shown_first = rng.randint(0, 1)
            if person.username == "hasty":
                winner, ms = shown_first, 8_000
            else:
                winner = better if rng.random() < 0.9 else 1 - better
                ms = 40_000 + 1000 * k
            preference = 2 if winner == 1 else -2
            scores = {}
            informative = [1.0 if pos == winner else 0.0 for pos in (0, 1)]
            if rng.random() < 0.1:
                informative = [1.0, 1.0]  # sometimes both meet it: no separation
            for pos in (0, 1):
                redundant = informative[pos] if rng.random() < 0.95 else 1.0 - informative[pos]
                reversed_ = (0.0 if pos == winner else 1.0) if rng.random() < 0.85 else float(rng.randint(0, 1))
                scores[(pos, criteria["informative"])] = informative[pos]
                scores[(pos, criteria["redundant"])] = redundant
                scores[(pos, criteria["reversed"])] = reversed_
                scores[(pos, criteria["noise"])] = float(rng.randint(1, 5))
            judge(
                item,
                person,
                preference=preference,
                at=T0 + timedelta(days=n % 3, minutes=n),
                time_spent_ms=ms,
                shown_first=shown_first,
                scores=scores,
            )
        margin = 1.0 if better == 1 else -1.0
        if n % 10 == 0:
            margin = -margin  # the reward model is wrong on one pair in ten
        score(item, scorer, [0.0, margin])
    return data
