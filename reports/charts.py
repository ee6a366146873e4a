"""Static PNG trend charts for emailed reports (mail clients run no JavaScript and many drop inline SVG).

Drawn with Pillow and its bundled font, so the same data gives byte-identical PNGs on every machine with the
same Pillow version: no system fonts, no timestamps or other metadata in the file. Charts are drawn at twice
their display size (``DISPLAY_WIDTH`` x ``DISPLAY_HEIGHT`` CSS pixels) so labels stay sharp on high-density
screens, and stay well under 100 KB.

Public API::

    line_chart(points, *, title, value_format, y_range=None, band=None, color=...) -> bytes   # PNG
    coverage_trend(con, until, nights=90) -> list[TrendPoint]     # coverage_daily, summed per night
    cost_trend(con, until, nights=90) -> list[TrendPoint]         # license_cost_daily, summed per night
    coverage_chart(points) -> bytes | None; cost_chart(points, currency) -> bytes | None
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache

import duckdb
from PIL import Image, ImageDraw, ImageFont

#: Size the charts are shown at in the HTML (CSS pixels); the PNG holds ``SCALE`` times as many pixels.
DISPLAY_WIDTH, DISPLAY_HEIGHT = 420, 190
SCALE = 2
WIDTH, HEIGHT = DISPLAY_WIDTH * SCALE, DISPLAY_HEIGHT * SCALE
#: Nights shown at most (the database may retain six months).
MAX_NIGHTS = 90

BACKGROUND = (255, 255, 255)
FRAME = (229, 231, 235)
GRID = (229, 231, 235)
AXIS_TEXT = (75, 85, 99)
TITLE_TEXT = (17, 24, 39)
COVERAGE_COLOR = (31, 78, 121)
COST_COLOR = (183, 121, 31)
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 100, 36, 76, 52


@dataclass(frozen=True)
class TrendPoint:
    """One night of a trend: the value, and optionally a low-high range drawn as a band."""

    night: date
    value: float
    low: float | None = None
    high: float | None = None


@lru_cache(maxsize=8)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    # Pillow's bundled font (FreeType builds): no dependency on the fonts installed on the machine.
    return ImageFont.load_default(size=size)


def day_label(night: date) -> str:
    """'Nov 28': month names spelt here, not by the locale."""
    return f"{_MONTHS[night.month - 1]} {night.day}"


def fmt_percent(value: float) -> str:
    return f"{value:.1f}%" if value != int(value) else f"{int(value)}%"


def fmt_money(value: float) -> str:
    """'148.30', '12,345': cents while they matter."""
    return f"{value:,.2f}" if abs(value) < 1000 else f"{value:,.0f}"


def fmt_axis_number(value: float) -> str:
    """Short tick labels: '150', '2.5', '12k', '1.2M'."""
    magnitude = abs(value)
    if magnitude >= 1_000_000:
        return f"{value / 1_000_000:g}M"
    if magnitude >= 10_000:
        return f"{value / 1000:g}k"
    return f"{value:,.2f}".rstrip("0").rstrip(".") if value != int(value) else f"{int(value):,}"


def _nice_step(span: float, ticks: int = 4) -> float:
    raw = span / ticks if span > 0 else 1.0
    magnitude = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 2.5, 5, 10):
        if raw <= factor * magnitude:
            return factor * magnitude
    return 10 * magnitude


def _y_axis(low: float, high: float, fixed: tuple[float | None, float | None]) -> tuple[float, float, float]:
    lo = fixed[0] if fixed[0] is not None else low
    hi = fixed[1] if fixed[1] is not None else high
    if hi <= lo:
        hi = lo + (abs(lo) * 0.1 or 1.0)
    step = _nice_step(hi - lo)
    lo = fixed[0] if fixed[0] is not None else math.floor(lo / step) * step
    hi = fixed[1] if fixed[1] is not None else math.ceil(hi / step) * step
    if hi <= lo:
        hi = lo + step
    return lo, hi, step


def _text_width(draw: ImageDraw.ImageDraw, text: str, font) -> float:
    return draw.textlength(text, font=font)


def line_chart(points: Sequence[TrendPoint], *, title: str, value_format: Callable[[float], str],
               axis_format: Callable[[float], str] | None = None,
               y_range: tuple[float | None, float | None] = (None, None), color: tuple[int, int, int] = COVERAGE_COLOR,
               empty_text: str = "No data yet") -> bytes:
    """A line chart of one value per night as PNG bytes (``WIDTH`` x ``HEIGHT`` pixels).

    ``value_format`` prints the latest value (top right corner), ``axis_format`` the axis ticks (default:
    ``value_format``). ``y_range`` pins the axis ends (e.g. ``(None, 100)`` for percentages); points with
    ``low``/``high`` also get a light band between them.
    """
    axis_format = axis_format or value_format
    points = sorted(points, key=lambda p: p.night)
    image = Image.new("RGB", (WIDTH, HEIGHT), BACKGROUND)
    draw = ImageDraw.Draw(image)
    label_font, value_font = _font(20), _font(24)
    draw.rectangle((0, 0, WIDTH - 1, HEIGHT - 1), outline=FRAME, width=2)
    latest = f"{day_label(points[-1].night)}: {value_format(points[-1].value)}" if points else ""
    room = WIDTH - 48 - (_text_width(draw, latest, value_font) + 24 if latest else 0)
    size = 26
    while size > 16 and _text_width(draw, title, _font(size)) > room:  # a long title shrinks, never overlaps
        size -= 1
    draw.text((24, 18 + (26 - size) // 2), title, font=_font(size), fill=TITLE_TEXT)
    left, right = MARGIN_LEFT, WIDTH - MARGIN_RIGHT
    top, bottom = MARGIN_TOP, HEIGHT - MARGIN_BOTTOM
    if not points:
        draw.text(((left + right) / 2, (top + bottom) / 2), empty_text, font=label_font, fill=AXIS_TEXT,
                  anchor="mm")
        return _png(image)

    draw.text((WIDTH - 24, 20), latest, font=value_font, fill=color, anchor="ra")

    values = [p.value for p in points]
    values += [v for p in points for v in (p.low, p.high) if v is not None]
    lo, hi, step = _y_axis(min(values), max(values), y_range)
    first, last = points[0].night, points[-1].night
    span_days = max((last - first).days, 1)

    def x_of(night: date) -> float:
        if first == last:
            return (left + right) / 2
        return left + (right - left) * (night - first).days / span_days

    def y_of(value: float) -> float:
        return bottom - (bottom - top) * (value - lo) / (hi - lo)

    # horizontal grid and value labels
    tick = lo
    while tick <= hi + step / 1000:
        y = y_of(tick)
        draw.line((left, y, right, y), fill=GRID, width=2)
        draw.text((left - 12, y), axis_format(tick), font=label_font, fill=AXIS_TEXT, anchor="rm")
        tick += step

    # date labels: at most six, always the first and the last night
    count = len(points)
    every = max(1, math.ceil((count - 1) / 5)) if count > 1 else 1
    shown = sorted({i for i in range(0, count, every)} | {count - 1})
    last_right = -1.0
    for i in reversed(shown):
        x = x_of(points[i].night)
        label = day_label(points[i].night)
        width = _text_width(draw, label, label_font)
        anchor = "ra" if i == count - 1 and count > 1 else ("la" if i == 0 and count > 1 else "ma")
        box_left = x - width if anchor == "ra" else (x if anchor == "la" else x - width / 2)
        if last_right >= 0 and box_left + width > last_right - 8:
            continue  # would overlap the label to its right
        draw.line((x, bottom, x, bottom + 6), fill=AXIS_TEXT, width=2)
        draw.text((x, bottom + 12), label, font=label_font, fill=AXIS_TEXT, anchor=anchor)
        last_right = box_left
    draw.line((left, bottom, right, bottom), fill=AXIS_TEXT, width=2)

    band = [p for p in points if p.low is not None and p.high is not None]
    if len(band) > 1:
        tint = tuple(int(c + (255 - c) * 0.8) for c in color)
        polygon = [(x_of(p.night), y_of(p.high)) for p in band] + [(x_of(p.night), y_of(p.low))
                                                                   for p in reversed(band)]
        draw.polygon(polygon, fill=tint)

    xy = [(x_of(p.night), y_of(p.value)) for p in points]
    if len(xy) > 1:
        draw.line(xy, fill=color, width=5, joint="curve")
    if len(xy) <= 45:
        for x, y in xy:
            draw.ellipse((x - 6, y - 6, x + 6, y + 6), fill=color, outline=BACKGROUND, width=2)
    return _png(image)


def _png(image: Image.Image) -> bytes:
    # Few colours: a palette PNG is a third of the size of an RGB one and looks the same.
    buffer = io.BytesIO()
    image.quantize(colors=64, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE).save(
        buffer, format="PNG", optimize=True)
    return buffer.getvalue()


# ------------------------------------------------------------------------------------------------ trends


def _has_view(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    return bool(con.execute("select count(*) from information_schema.tables "
                            "where table_schema = current_schema() and table_name = ?", [name]).fetchone()[0])


def coverage_trend(con: duckdb.DuckDBPyConnection, until: date, nights: int = MAX_NIGHTS) -> list[TrendPoint]:
    """Coverage per night from ``coverage_daily`` summed over clouds, scopes and OS families:
    protected / (running - exempt - not applicable). Nights with nothing assessable are left out."""
    if not _has_view(con, "coverage_daily"):
        return []
    found = con.execute("""
        select snapshot_date, sum(protected) as protected,
               sum(running_machines) - sum(exempt) - sum(not_applicable) as assessable
        from coverage_daily where snapshot_date between ? and ?
        group by snapshot_date order by snapshot_date""", [until - timedelta(days=nights - 1), until]).fetchall()
    # Rounded to two decimals as the coverage views round theirs, so the chart shows the report's figure.
    return [TrendPoint(night, round(100.0 * float(protected) / float(assessable), 2))
            for night, protected, assessable in found if assessable]


def cost_trend(con: duckdb.DuckDBPyConnection, until: date, nights: int = MAX_NIGHTS) -> list[TrendPoint]:
    """Defender for Servers cost per night from ``license_cost_daily`` (central, with the low-high band)."""
    if not _has_view(con, "license_cost_daily"):
        return []
    found = con.execute("""
        select snapshot_date, sum(cost), sum(cost_low), sum(cost_high)
        from license_cost_daily where snapshot_date between ? and ?
        group by snapshot_date order by snapshot_date""", [until - timedelta(days=nights - 1), until]).fetchall()
    return [TrendPoint(night, float(cost or 0), None if low is None else float(low),
                       None if high is None else float(high)) for night, cost, low, high in found]


def coverage_chart(points: Sequence[TrendPoint], title: str = "EDR coverage, running machines") -> bytes:
    return line_chart(points, title=title, value_format=fmt_percent, y_range=(None, 100.0), color=COVERAGE_COLOR,
                      empty_text="No coverage history yet")


def cost_chart(points: Sequence[TrendPoint], currency: str,
               title: str = "Defender for Servers cost per night") -> bytes:
    """Central cost per night, the low-high estimate as a band; the currency is in the title."""
    return line_chart(points, title=f"{title} ({currency})", value_format=fmt_money, axis_format=fmt_axis_number,
                      y_range=(0.0, None), color=COST_COLOR, empty_text="No cost history yet")
