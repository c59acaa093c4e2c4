"""Charts as inline SVG, drawn on the server: no JavaScript library, no CDN, nothing leaves the
office network, and the page prints. Presentation attributes only (fill=, stroke=): the console's
Content-Security-Policy forbids inline style attributes."""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from markupsafe import Markup

INK, MUTED, LINE, BRAND, OK, WARN = "#1d2530", "#5b6573", "#d8dde3", "#0b5cad", "#1f7a3a", "#c99700"


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    title: str = ""  # the tooltip (and the accessible name of the bar)
    color: str = BRAND


def _svg(width: int, height: int, title: str, body: list[str]) -> Markup:
    return Markup(
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%" role="img" '
        f'aria-label="{escape(title)}" class="chart"><title>{escape(title)}</title>{"".join(body)}</svg>')


def bar_chart(bars: list[Bar], title: str, width: int = 640, height: int = 220, limit: list[float] | None = None,
              label_every: int = 1, value_labels: bool = True) -> Markup:
    """Vertical bars with labels underneath; `limit` draws a dashed line per bar (e.g. the quota)."""
    if not bars:
        return _svg(width, 40, title, [f'<text x="8" y="24" fill="{MUTED}" font-size="13">Belum ada data.</text>'])
    top, bottom, left, right = 18, 34, 8, 8
    plot_h = height - top - bottom
    highest = max([b.value for b in bars] + (limit or []) + [1])
    slot = (width - left - right) / len(bars)
    gap = min(6.0, slot * 0.2)
    body = [f'<line x1="{left}" y1="{top + plot_h}" x2="{width - right}" y2="{top + plot_h}" stroke="{LINE}"/>']
    for i, bar in enumerate(bars):
        x = left + i * slot + gap / 2
        h = plot_h * bar.value / highest
        y = top + plot_h - h
        tip = escape(bar.title or f"{bar.label}: {bar.value:g}")
        body.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{slot - gap:.1f}" height="{h:.1f}" fill="{bar.color}">'
                    f'<title>{tip}</title></rect>')
        if limit is not None and i < len(limit):
            ly = top + plot_h - plot_h * limit[i] / highest
            body.append(f'<line x1="{x:.1f}" y1="{ly:.1f}" x2="{x + slot - gap:.1f}" y2="{ly:.1f}" stroke="{WARN}" '
                        f'stroke-width="2" stroke-dasharray="4 3"/>')
        if value_labels and slot >= 22:
            body.append(f'<text x="{x + (slot - gap) / 2:.1f}" y="{y - 4:.1f}" fill="{INK}" font-size="11" '
                        f'text-anchor="middle">{bar.value:g}</text>')
        if i % label_every == 0:
            body.append(f'<text x="{x + (slot - gap) / 2:.1f}" y="{height - bottom + 15}" fill="{MUTED}" '
                        f'font-size="11" text-anchor="middle">{escape(bar.label)}</text>')
    return _svg(width, height, title, body)


def funnel_chart(stages: list[tuple[str, int]], title: str, width: int = 640) -> Markup:
    """Horizontal bars, one per stage, each with its count and its share of the first stage."""
    row, label_w = 34, 170
    height = row * len(stages) + 8
    first = stages[0][1] if stages and stages[0][1] else 0
    widest = max([count for _, count in stages] + [1])
    body = []
    for i, (label, count) in enumerate(stages):
        y = 4 + i * row
        w = (width - label_w - 110) * count / widest
        share = f"{100 * count / first:.0f}%" if first else "—"
        body += [f'<text x="0" y="{y + 20}" fill="{INK}" font-size="13">{escape(label)}</text>',
                 f'<rect x="{label_w}" y="{y + 4}" width="{w:.1f}" height="{row - 10}" rx="3" fill="{BRAND}">'
                 f'<title>{escape(label)}: {count}</title></rect>',
                 f'<text x="{label_w + w + 6:.1f}" y="{y + 20}" fill="{INK}" font-size="13">{count} · {share}</text>']
    return _svg(width, height, title, body)
