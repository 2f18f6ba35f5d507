"""Bar charts as plain geometry, drawn by the template as inline SVG (no JavaScript, nothing
loaded from elsewhere). Pure functions: tested without a database or a browser."""

import dataclasses
import datetime
import math

WIDTH = 960
HEIGHT = 220
LEFT = 56  # room for the value axis labels
BOTTOM = 34  # room for the hour labels
TOP = 10
GAP = 2


@dataclasses.dataclass(frozen=True)
class Series:
    name: str
    css_class: str
    values: dict  # hour -> number


@dataclasses.dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    css_class: str
    title: str


@dataclasses.dataclass(frozen=True)
class Tick:
    position: float
    label: str


@dataclasses.dataclass(frozen=True)
class Chart:
    width: int
    height: int
    left: int
    plot_top: int
    plot_bottom: float
    bars: list
    value_ticks: list
    hour_ticks: list
    series: list
    total: int

    @property
    def empty(self) -> bool:
        return self.total == 0

    @property
    def center_x(self) -> float:
        return (self.left + self.width) / 2

    @property
    def center_y(self) -> float:
        return (self.plot_top + self.plot_bottom) / 2


def nice_ceiling(value: int) -> int:
    """The smallest of 1, 2, 5 x 10^n that is at least `value` (at least 1)."""
    if value <= 1:
        return 1
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if step * power >= value:
            return step * power
    return 10 * power  # pragma: no cover  (the loop always returns)


def hour_label(hour: datetime.datetime) -> str:
    return hour.strftime("%a %d %b") if hour.hour == 0 else hour.strftime("%H:%M")


def hourly_bars(hours: list[datetime.datetime], series: list[Series], label_every: int = 6) -> Chart:
    """One stacked bar per hour (series bottom to top in the given order), hours left to right."""
    plot_bottom = HEIGHT - BOTTOM
    plot_height = plot_bottom - TOP
    slot = (WIDTH - LEFT) / max(len(hours), 1)
    totals = [sum(s.values.get(hour, 0) for s in series) for hour in hours]
    top = nice_ceiling(max(totals, default=0))
    bars = []
    hour_ticks = []
    for index, hour in enumerate(hours):
        x = LEFT + index * slot
        stacked = 0
        for s in series:
            value = s.values.get(hour, 0)
            if not value:
                continue
            height = plot_height * value / top
            y = plot_bottom - plot_height * stacked / top - height
            bars.append(Bar(round(x + GAP / 2, 2), round(y, 2), round(slot - GAP, 2), round(height, 2), s.css_class,
                            f"{hour:%Y-%m-%d %H:00} UTC: {value:,} {s.name}"))
            stacked += value
        if hour.hour % label_every == 0:
            hour_ticks.append(Tick(round(x, 2), hour_label(hour)))
    # Halfway only when it is a whole number (not for an axis that ends at 1).
    steps = (0, top // 2, top) if top % 2 == 0 else (0, top)
    value_ticks = [Tick(round(plot_bottom - plot_height * v / top, 2), f"{v:,}") for v in steps]
    return Chart(WIDTH, HEIGHT, LEFT, TOP, plot_bottom, bars, value_ticks, hour_ticks, series, sum(totals))
