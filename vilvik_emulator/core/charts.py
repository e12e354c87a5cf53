"""The fitness-evolution chart of a result (``fitness.svg``): plain SVG, no dependencies.

Axes with "nice" tick values, generation numbers along the bottom, best fitness up the
side, one line per objective, and a title; readable in a browser and in the dashboard.
"""

from __future__ import annotations

import math
from html import escape
from typing import Any

WIDTH, HEIGHT = 720, 400
LEFT, RIGHT, TOP, BOTTOM = 80, 24, 44, 56
COLOURS = ("#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2")


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def nice_ticks(low: float, high: float, count: int = 6) -> list[float]:
    """Round tick values covering [low, high]; a flat line (even at 1e20, where ±1 is lost) gets a band."""
    span = high - low
    if not span > abs(high) * 1e-12:
        pad = max(1.0, abs(high) * 0.1)
        low, high = low - pad, high + pad
        span = high - low
    raw = span / max(1, count - 1)
    if not (raw > 0 and math.isfinite(raw)):
        return [low, high]
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    start = math.floor(low / step) * step
    ticks: list[float] = []
    value = start
    while value <= high + step * 0.5 and len(ticks) < 50:
        ticks.append(round(value, 10))
        value += step
    return ticks


def _label(value: float) -> str:
    if value == int(value) and abs(value) < 1e9:
        return str(int(value))
    return f"{value:.6g}"


def fitness_chart(history: list, title: str = "Best fitness per generation") -> str:
    """SVG for ``best_solutions_fitness`` (numbers, or lists for multi-objective runs)."""
    series: list[list[tuple[int, float]]] = []
    for generation, value in enumerate(history):
        values = value if isinstance(value, list) else [value]
        for index, item in enumerate(values):
            while len(series) <= index:
                series.append([])
            number = _number(item)
            if number is not None:
                series[index].append((generation, number))
    points = [point for line in series for point in line]
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
             f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">',
             f'<rect width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>',
             f'<text x="{WIDTH / 2}" y="24" text-anchor="middle" font-size="15" font-weight="bold">'
             f'{escape(title)}</text>']
    if not points:
        parts.append(f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle" fill="#6b7280">'
                     'No fitness values recorded</text></svg>')
        return "".join(parts)
    last_generation = max(1, max(generation for generation, _ in points))
    y_ticks = nice_ticks(min(v for _, v in points), max(v for _, v in points))
    x_ticks = [t for t in nice_ticks(0, last_generation, 8) if 0 <= t <= last_generation]
    y_low, y_high = y_ticks[0], y_ticks[-1]

    def x(generation: float) -> float:
        return LEFT + plot_w * generation / last_generation

    def y(value: float) -> float:
        return TOP + plot_h * (1 - (value - y_low) / ((y_high - y_low) or 1))

    for tick in y_ticks:
        parts.append(f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" '
                     'stroke="#e5e7eb"/>')
        parts.append(f'<text x="{LEFT - 8}" y="{y(tick) + 4:.1f}" text-anchor="end">{_label(tick)}</text>')
    for tick in x_ticks:
        parts.append(f'<line x1="{x(tick):.1f}" x2="{x(tick):.1f}" y1="{TOP + plot_h}" y2="{TOP + plot_h + 5}" '
                     'stroke="#374151"/>')
        parts.append(f'<text x="{x(tick):.1f}" y="{TOP + plot_h + 20}" text-anchor="middle">{_label(tick)}</text>')
    parts.append(f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{TOP + plot_h}" stroke="#374151"/>')
    parts.append(f'<line x1="{LEFT}" y1="{TOP + plot_h}" x2="{LEFT + plot_w}" y2="{TOP + plot_h}" stroke="#374151"/>')
    parts.append(f'<text x="{LEFT + plot_w / 2}" y="{HEIGHT - 12}" text-anchor="middle">Generation</text>')
    parts.append(f'<text x="18" y="{TOP + plot_h / 2}" text-anchor="middle" '
                 f'transform="rotate(-90 18 {TOP + plot_h / 2})">Best fitness</text>')
    for index, line in enumerate(series):
        if not line:
            continue
        colour = COLOURS[index % len(COLOURS)]
        path = " ".join(f"{'M' if i == 0 else 'L'}{x(g):.1f},{y(v):.1f}" for i, (g, v) in enumerate(line))
        name = "best fitness" if len(series) == 1 else f"objective {index + 1}"
        parts.append(f'<path d="{path}" fill="none" stroke="{colour}" stroke-width="2">'
                     f'<title>{name}</title></path>')
        if len(series) > 1:  # a legend row above the plot, clear of the lines
            parts.append(f'<text x="{LEFT + 90 * index}" y="{TOP - 8}" fill="{colour}">&#9632; {name}</text>')
    parts.append("</svg>")
    return "".join(parts)
