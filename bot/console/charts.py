"""Charts drawn as inline SVG on the server: no chart library, no CDN, no build step."""

from __future__ import annotations

from datetime import date
from html import escape

from markupsafe import Markup

PALETTE = ("#c0392b", "#2e86c1", "#27ae60", "#d68910", "#8e44ad", "#16a085", "#7f8c8d")


def columns(
    points: list[tuple[date, int]], *, title: str, width: int = 720, height: int = 220
) -> Markup:
    """Vertical bars, one per day, with the count above non-empty bars."""
    top, bottom, left = 24, 28, 8
    peak = max((n for _, n in points), default=0) or 1
    step = (width - left * 2) / max(1, len(points))
    bars = []
    for i, (day, n) in enumerate(points):
        h = (height - top - bottom) * n / peak
        x = left + i * step
        y = height - bottom - h
        bars.append(
            f'<rect class="bar" x="{x + 1:.1f}" y="{y:.1f}" width="{max(1.0, step - 2):.1f}" '
            f'height="{h:.1f}" fill="{PALETTE[1]}"><title>{day.isoformat()}：{n}</title></rect>'
        )
        if n:
            bars.append(
                f'<text x="{x + step / 2:.1f}" y="{y - 3:.1f}" text-anchor="middle" font-size="10">{n}</text>'
            )
        if (i % 7 == 0 and len(points) - 1 - i >= 3) or i == len(points) - 1:
            bars.append(
                f'<text x="{x + step / 2:.1f}" y="{height - 10}" text-anchor="middle" font-size="10">'
                f"{day.month}/{day.day}</text>"
            )
    return _svg(title, width, height, "".join(bars))


def hbars(items: list[tuple[str, int]], *, title: str, width: int = 360, row: int = 24) -> Markup:
    """Horizontal bars with labels, for breakdowns and hotspots."""
    if not items:
        return _svg(title, width, 40, '<text x="8" y="24" font-size="12">暂无数据</text>')
    label_w, peak = 120, max(n for _, n in items) or 1
    height = row * len(items) + 8
    parts = []
    for i, (label, n) in enumerate(items):
        y = 4 + i * row
        w = (width - label_w - 40) * n / peak
        parts.append(
            f'<text x="{label_w - 6}" y="{y + row / 2 + 4:.1f}" text-anchor="end" font-size="12">'
            f"{escape(_short(label))}</text>"
            f'<rect class="bar" x="{label_w}" y="{y + 3}" width="{max(1.0, w):.1f}" height="{row - 6}" '
            f'fill="{PALETTE[i % len(PALETTE)]}"><title>{escape(label)}：{n}</title></rect>'
            f'<text x="{label_w + w + 4:.1f}" y="{y + row / 2 + 4:.1f}" font-size="12">{n}</text>'
        )
    return _svg(title, width, height, "".join(parts))


def spark(series: list[int], *, title: str, width: int = 120, height: int = 24) -> Markup:
    """A small line of counts per period, for a hotspot's row."""
    peak = max(series, default=0) or 1
    step = width / max(1, len(series) - 1)
    points = " ".join(
        f"{i * step:.1f},{height - 2 - (height - 4) * n / peak:.1f}" for i, n in enumerate(series)
    )
    body = f'<polyline fill="none" stroke="{PALETTE[1]}" stroke-width="1.5" points="{points}"/>'
    return _svg(title, width, height, body)


def _short(label: str, limit: int = 9) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"


def _svg(title: str, width: int, height: int, body: str) -> Markup:
    return Markup(  # noqa: S704 - every interpolated label is escaped above
        f'<svg class="chart" role="img" aria-label="{escape(title)}" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg">'
        f"<title>{escape(title)}</title>{body}</svg>"
    )
