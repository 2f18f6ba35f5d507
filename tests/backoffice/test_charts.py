"""The overview's bar charts as geometry (no database, no browser)."""

import datetime

import pytest

from backoffice import charts

H0 = datetime.datetime(2026, 3, 1, 0, tzinfo=datetime.UTC)
HOURS = [H0 + datetime.timedelta(hours=i) for i in range(48)]


@pytest.mark.parametrize("value, expected", [(0, 1), (1, 1), (3, 5), (7, 10), (10, 10), (11, 20), (1999, 2000)])
def test_nice_ceiling(value, expected):
    assert charts.nice_ceiling(value) == expected


def test_one_bar_per_nonzero_hour_scaled_to_the_axis():
    chart = charts.hourly_bars(HOURS, [charts.Series("due", "due", {HOURS[0]: 10, HOURS[5]: 5})])
    assert [bar.title for bar in chart.bars] == ["2026-03-01 00:00 UTC: 10 due", "2026-03-01 05:00 UTC: 5 due"]
    full, half = chart.bars
    assert full.height == pytest.approx(chart.plot_bottom - chart.plot_top)
    assert half.height == pytest.approx(full.height / 2)
    assert full.y + full.height == pytest.approx(chart.plot_bottom) and half.x > full.x
    assert [tick.label for tick in chart.value_ticks] == ["0", "5", "10"]
    assert [tick.label for tick in chart.hour_ticks][:5] == ["Sun 01 Mar", "06:00", "12:00", "18:00", "Mon 02 Mar"]
    assert chart.total == 15 and not chart.empty


def test_series_stack_bottom_to_top():
    chart = charts.hourly_bars(HOURS, [charts.Series("sent", "sent", {HOURS[1]: 3}),
                                       charts.Series("failed", "failed", {HOURS[1]: 1})])
    sent, failed = chart.bars
    assert (sent.css_class, failed.css_class) == ("sent", "failed")
    assert failed.y + failed.height == pytest.approx(sent.y)
    assert sent.height == pytest.approx(3 * failed.height)


def test_an_empty_window_draws_no_bars():
    chart = charts.hourly_bars(HOURS, [charts.Series("due", "due", {})])
    assert chart.bars == [] and chart.empty and [t.label for t in chart.value_ticks] == ["0", "1"]
