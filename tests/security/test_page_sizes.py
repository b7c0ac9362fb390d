"""Pages render in O(responses) (security finding 1): a ranking is one input per response, so an
item with the maximum number of responses draws as many rank inputs as responses, not n²."""

import re

import pytest

from annotator.models import Assignment
from tests.factories import ItemFactory

HTMX = {"HTTP_HX_REQUEST": "true"}


def _inputs(body: str) -> int:
    return len(re.findall(r"<input\b", body))


@pytest.mark.django_db
def test_the_comparison_item_and_review_pages_grow_linearly_with_responses(client_for, annotator, project_admin,
                                                                            reviewer, project, settings):
    counts = {}
    sizes = (8, 16, settings.IMPORT_MAX_RESPONSES)
    for n in sizes:
        item = ItemFactory(project=project, responses=[f"response {i}" for i in range(n)])
        page = client_for(annotator).get(f"/projects/{project.id}/annotate/").content.decode()
        assert len(re.findall(r'class="rank-input"', page)) == n
        item_page = client_for(project_admin).get(f"/projects/{project.id}/items/{item.id}/").content.decode()
        assert len(re.findall(r'class="rank-input"', item_page)) == n
        review = client_for(reviewer).get(f"/projects/{project.id}/review/{item.id}/").content.decode()
        assert len(re.findall(r'class="rank-input"', review)) == n
        counts[n] = (_inputs(page), _inputs(item_page), _inputs(review))
        Assignment.objects.filter(annotator__username=annotator.username).delete()
        item.delete()
    # Linear: each extra response adds the same number of inputs (its rank and its criterion cells);
    # a responses × ranks grid would add more per response the more there are.
    for page in range(3):
        first = (counts[16][page] - counts[8][page]) / 8
        second = (counts[sizes[2]][page] - counts[16][page]) / (sizes[2] - 16)
        assert first == second, (page, counts)
