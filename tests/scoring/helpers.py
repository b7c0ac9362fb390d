"""Data helpers for the scoring tests."""

from tests.factories import ItemFactory


def make_items(project, n: int, *, contents=None) -> list:
    """n items with two responses each (contents vary in length)."""
    items = []
    start = project.items.count()
    for i in range(start, start + n):
        pair = (contents[i - start] if contents else
                [f"Short answer {i}.", f"A longer answer number {i}, " + "with detail " * (i % 5 + 1)])
        items.append(ItemFactory(project=project, external_id=f"it-{project.pk}-{i}",
                                 prompt=[{"role": "user", "content": f"Question {i}?"}], responses=pair))
    return items

