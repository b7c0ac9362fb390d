"""Token-budget batching: sort by length, fill each batch up to a padded-token budget.

A batch costs rows × longest row (padding included), so grouping similar lengths wastes little
compute; the longest batch goes first so an out-of-memory shows up at once, not at the end.
"""

from __future__ import annotations


def plan_token_budget_batches(lengths: list[int], *, token_budget: int, max_rows: int | None = None) -> list[list[int]]:
    """Indices into `lengths`, grouped so that len(batch) × max(length in batch) ≤ token_budget.

    A single sequence longer than the budget gets a batch of its own. Every index appears once.
    """
    if token_budget < 1:
        raise ValueError("token_budget must be positive")
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    batches: list[list[int]] = []
    current: list[int] = []
    current_max = 0
    for i in order:
        length = max(1, lengths[i])
        new_max = max(current_max, length)
        if current and ((len(current) + 1) * new_max > token_budget or (max_rows and len(current) >= max_rows)):
            batches.append(current)
            current, new_max = [], length
        current.append(i)
        current_max = new_max
    if current:
        batches.append(current)
    return batches


def plan_fixed_batches(n: int, *, batch_size: int) -> list[list[int]]:
    """Fixed-size batches in input order (the naive plan, for comparison in bench/scoring.py)."""
    return [list(range(start, min(n, start + batch_size))) for start in range(0, n, batch_size)]
