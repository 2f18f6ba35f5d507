"""`python -m bench.hot_path_cost` times the hot path's own answers: it must refuse to report a
figure for requests the hot path declined (Django's far costlier answers would never be timed, and
the figure would be of nothing)."""

import pytest

from bench import hot_path_cost

pytestmark = pytest.mark.integration


def test_it_times_answered_requests_and_access_lines(transactional_db):
    figures = hot_path_cost.measure(calls=3)
    assert set(figures) == {"get_us", "post_us", "access_line_us"}
    assert all(value > 0 for value in figures.values())


def test_it_refuses_a_figure_when_the_hot_path_declines(transactional_db, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"token": "2/minute"}}
    # Throttled after two: the hot path answers 429s, not the 200s the figure is of.
    with pytest.raises(SystemExit, match="expected only 200 answers"):
        hot_path_cost.measure(calls=3)
