"""Figures the security suite gathers while it runs, printed at the end of the session for the
closing note of issue 9: the role matrix (routes × methods × roles checked) and the hostile-input
table (category, attempts, refused correctly, 5xx)."""

from collections import Counter

FIGURES: dict[str, object] = {}
# category → Counter(attempts=…, refused=…, accepted=…, server_errors=…), filled by tests.security.hostile.
HOSTILE: dict[str, Counter] = {}


def pytest_terminal_summary(terminalreporter):
    matrix = FIGURES.get("role matrix")
    if not matrix and not HOSTILE:
        return
    write = terminalreporter.write_line
    terminalreporter.section("security figures (issue 9)")
    if matrix:
        write(f"role matrix: {matrix['routes']} routes ({matrix['operations']} route × method pairs, "
              f"{FIGURES.get('schema operations', '?')} of them OpenAPI operations) × {matrix['roles']} roles "
              f"= {matrix['calls']} answers checked")
    if HOSTILE:
        write("")
        write("| category | attempts | refused correctly (4xx) | accepted (2xx) | 5xx |")
        write("| --- | ---: | ---: | ---: | ---: |")
        total = Counter()
        for category, counts in sorted(HOSTILE.items()):
            total.update(counts)
            write(f"| {category} | {counts['attempts']} | {counts['refused']} | {counts['accepted']} | "
                  f"{counts['server_errors']} |")
        write(f"| all | {total['attempts']} | {total['refused']} | {total['accepted']} | {total['server_errors']} |")
