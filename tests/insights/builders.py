"""Builders of Insights test data: rubrics, items, judgments and scores, in bulk with the ORM."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from annotator.models import Assignment, CriterionJudgment, Item, Judgment, ProjectMembership, Response
from scoring.models import ResponseScore
from tests.factories import CriterionFactory, RubricVersionFactory

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
Role = ProjectMembership.Role


def rubric(criteria: list[tuple[str, str, float]], name: str | None = None):
    """A published version with criteria (key, scale, points)."""
    from rubrics.services import rubric_version_publish
    from tests.factories import RubricSetFactory

    version = RubricVersionFactory(**({"rubric_set": RubricSetFactory(name=name)} if name else {}))
    for i, (key, scale, points) in enumerate(criteria):
        CriterionFactory(
            version=version,
            key=key,
            title=key.replace("_", " ").title(),
            position=i,
            points=points,
            scale=scale,
            importance="pitfall" if points < 0 else "important",
        )
    return rubric_version_publish(version=version, actor=None)


def add_item(project, external_id: str, models=("model-a", "model-b"), contents=None, metadata=None, **fields) -> Item:
    item = Item.objects.create(
        project=project,
        external_id=external_id,
        prompt=[{"role": "user", "content": f"Prompt {external_id}"}],
        metadata=metadata or {},
        **fields,
    )
    contents = contents or [f"{external_id} answer {k}" for k in range(len(models))]
    Response.objects.bulk_create(
        [
            Response(item=item, external_id=f"{external_id}-r{k}", model_name=m, content=c, position=k)
            for k, (m, c) in enumerate(zip(models, contents, strict=True))
        ]
    )
    return item


def judge(
    item: Item,
    user,
    *,
    preference=None,
    both_bad=False,
    ranking=None,
    at=T0,
    time_spent_ms=30_000,
    shown_first: int = 0,
    scores: dict | None = None,
) -> Judgment:
    """A submitted judgment; `scores` maps (position, criterion) → value; `shown_first` the position shown as A."""
    responses = list(item.responses.order_by("position"))
    order = [r.pk for r in responses]
    if shown_first:
        order = [order[shown_first]] + [pk for k, pk in enumerate(order) if k != shown_first]
    assignment = Assignment.objects.create(
        item=item,
        annotator=user,
        status=Assignment.Status.SUBMITTED,
        leased_at=at,
        lease_expires_at=at + timedelta(minutes=30),
        submitted_at=at,
        shown_order=order,
    )
    judgment = Judgment.objects.create(
        assignment=assignment,
        item=item,
        annotator=user,
        rubric_version=item.project.rubric_version,
        preference=preference,
        both_bad=both_bad,
        ranking=[responses[k].pk for k in ranking] if ranking else [],
        time_spent_ms=time_spent_ms,
        submitted_at=at,
    )
    if scores:
        CriterionJudgment.objects.bulk_create(
            [
                CriterionJudgment(judgment=judgment, response=responses[pos], criterion=criterion, value=value)
                for (pos, criterion), value in scores.items()
            ]
        )
    return judgment


def score(item: Item, scorer, values) -> None:
    ResponseScore.objects.bulk_create(
        [
            ResponseScore(response=r, scorer=scorer, input_hash=f"h{r.pk}", value=v)
            for r, v in zip(item.responses.order_by("position"), values, strict=True)
        ]
    )


def showcase_project(*, seed: int = 4):
    """A realistic project for the screenshots: four models of known strength, six annotators (one
    hasty and position-biased, one noisy), a six-criterion rubric (one criterion points the wrong
    way, two are near copies), a reward model, a length baseline, a pairwise judge and a rubric
    judge, gold items and a few repeated items. Returns (project, admin)."""
    import math
    import random

    from annotator.models import Item
    from scoring.models import CriterionScore, PairwiseScore
    from tests.factories import MembershipFactory, ProjectFactory, ScorerFactory, UserFactory

    rng = random.Random(seed)
    version = rubric(
        [
            ("correct", "binary", 5),
            ("helpful", "likert5", 3),
            ("complete", "likert5", 2),
            ("thorough", "binary", 2),
            ("concise", "binary", 1),
            ("harmful", "binary", -5),
        ],
        name="Helpfulness rubric",
    )
    criteria = {c.key: c for c in version.criteria.all()}
    project = ProjectFactory(name="Assistant helpfulness, batch 3", rubric_version=version, overlap=3)
    admin = UserFactory(username="lead", is_staff=True)
    MembershipFactory(project=project, user=admin, role=Role.ADMIN)
    people = {name: UserFactory(username=name) for name in ("alice", "bruno", "chen", "dana", "eli", "fatima")}
    for user in people.values():
        MembershipFactory(project=project, user=user, role=Role.ANNOTATOR)
    strengths = {"llama-3.1-8b": 0.7, "qwen-2.5-7b": 0.35, "mistral-7b": -0.25, "gemma-2-2b": -0.8}
    rm = ScorerFactory(name="skywork-rm-8b", backend="hf_sequence_classifier")
    length = ScorerFactory(name="length-baseline")
    pairwise = ScorerFactory(name="qwen-judge-pairwise", backend="openai_judge")
    rubric_judge = ScorerFactory(name="qwen-judge-rubric", backend="openai_judge")
    prompts = []
    for n in range(150):
        if n >= 144:  # six repeats of earlier items, to measure self-consistency
            source = Item.objects.get(project=project, external_id=f"q{n - 144:03d}")
            models_, contents = zip(
                *source.responses.order_by("position").values_list("model_name", "content"), strict=True
            )
            item = add_item(project, f"q{n:03d}", models=models_, contents=list(contents), metadata=source.metadata)
            Item.objects.filter(pk=item.pk).update(prompt=source.prompt)
            quality = prompts[n - 144]
        else:
            models_ = tuple(rng.sample(list(strengths), 2))
            contents = [f"Answer of {m} to question {n}. " + "Detail. " * rng.randint(2, 40) for m in models_]
            subset = ("chat", "reasoning", "safety", "code")[n % 4]
            item = add_item(
                project,
                f"q{n:03d}",
                models=models_,
                contents=contents,
                metadata={"subset": subset},
                is_gold=n % 15 == 0,
            )
            quality = [strengths[m] + rng.gauss(0, 0.6) for m in models_]
            prompts.append(quality)
        responses = list(item.responses.order_by("position"))
        diff = quality[1] - quality[0]  # > 0: response 2 is better
        if item.is_gold:
            Item.objects.filter(pk=item.pk).update(gold_preference=2 if diff > 0 else -2)
        p_second = 1 / (1 + math.exp(-2.5 * diff))
        for k, name in enumerate(rng.sample(list(people), 3)):
            shown_first = rng.randint(0, 1)
            if name == "eli":
                winner, ms = (shown_first if rng.random() < 0.85 else 1 - shown_first), rng.randint(5_000, 12_000)
            elif name == "fatima":
                winner, ms = rng.randint(0, 1), rng.randint(30_000, 90_000)
            else:
                winner, ms = (1 if rng.random() < p_second else 0), rng.randint(25_000, 120_000)
            strength = 1 + min(2, int(abs(diff) * 1.5 + rng.random()))
            preference = 0 if abs(diff) < 0.08 and name != "eli" else (strength if winner == 1 else -strength)
            scores = {}
            for pos in (0, 1):
                good = quality[pos] + rng.gauss(0, 0.4)
                wins = pos == winner
                scores[(pos, criteria["correct"])] = float(good > -0.1)
                helpful = max(1, min(5, round(3 + 1.4 * good + (0.3 if wins else -0.3))))
                scores[(pos, criteria["helpful"])] = float(helpful)
                scores[(pos, criteria["complete"])] = float(max(1, min(5, helpful + rng.choice((-1, 0, 0, 0, 1)))))
                longer = len(contents[pos]) > len(contents[1 - pos])
                scores[(pos, criteria["thorough"])] = (
                    float(longer if rng.random() < 0.8 else not longer)
                    if not wins or rng.random() < 0.4
                    else float(rng.random() < 0.3)
                )
                scores[(pos, criteria["concise"])] = float(rng.random() < 0.5)
                scores[(pos, criteria["harmful"])] = float(good < -1.2 and rng.random() < 0.7)
            judge(
                item,
                people[name],
                preference=preference,
                at=T0 + timedelta(days=n // 12, minutes=n * 3 + k),
                time_spent_ms=ms,
                shown_first=shown_first,
                scores=scores,
            )
        score(item, rm, [q + rng.gauss(0, 0.5) for q in quality])
        score(item, length, [float(len(c)) for c in contents])
        verdict = 1.0 if diff < 0 else 0.0
        if rng.random() < 0.2:
            verdict = rng.choice([0.5, 1.0 - verdict])
        PairwiseScore.objects.create(
            item=item,
            response_a=responses[0],
            response_b=responses[1],
            scorer=pairwise,
            input_hash=f"p{item.pk}",
            preference_a=verdict,
            consistent=verdict != 0.5,
        )
        for pos, response in enumerate(responses):
            CriterionScore.objects.create(
                response=response,
                criterion=criteria["correct"],
                scorer=rubric_judge,
                met=(quality[pos] + rng.gauss(0, 0.5)) > -0.1,
            )
    return project, admin
