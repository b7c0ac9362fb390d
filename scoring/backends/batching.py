"""Token-budget batching: sort by length, then cut the sorted list into batches that fit a budget.

A batch costs rows × longest row tokens (padding included) plus a fixed per-forward overhead
(kernel launches, the Python around the call). The cut points are chosen by dynamic programming to
minimise the total of that cost, subject to rows × longest ≤ token_budget: long and short
sequences never share a batch, and there are no needlessly tiny batches either. The longest batch
goes first so an out-of-memory shows up at once, not at the end.
"""

from __future__ import annotations


def plan_token_budget_batches(
    lengths: list[int], *, token_budget: int, batch_overhead: int | None = None,
) -> list[list[int]]:
    """Indices into `lengths`, grouped so that len(batch) × max(length in batch) ≤ token_budget.

    `batch_overhead`: what one more forward pass costs, in padded-token equivalents (default
    token_budget // 16). A single sequence longer than the budget gets a batch of its own. Every
    index appears exactly once. O(n × rows per batch).
    """
    if token_budget < 1:
        raise ValueError("token_budget must be positive")
    overhead = token_budget // 16 if batch_overhead is None else max(0, batch_overhead)
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    sorted_lengths = [max(1, lengths[i]) for i in order]
    n = len(order)
    best = [0.0] + [float("inf")] * n
    cut = [0] * (n + 1)
    for end in range(1, n + 1):
        # The batch is sorted[start:end]; its longest row is sorted[start].
        for start in range(end - 1, -1, -1):
            rows = end - start
            if rows > 1 and rows * sorted_lengths[start] > token_budget:
                break
            cost = best[start] + rows * sorted_lengths[start] + overhead
            if cost < best[end]:
                best[end], cut[end] = cost, start
    batches: list[list[int]] = []
    end = n
    while end > 0:
        start = cut[end]
        batches.append(order[start:end])
        end = start
    batches.reverse()
    return batches


def plan_fixed_batches(n: int, *, batch_size: int) -> list[list[int]]:
    """Fixed-size batches in input order (the naive plan, for comparison in bench/scoring.py)."""
    return [list(range(start, min(n, start + batch_size))) for start in range(0, n, batch_size)]
