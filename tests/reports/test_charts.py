"""PNG trend charts: deterministic, small, labelled, and fed from the trend views."""

from __future__ import annotations

import io
from datetime import date, timedelta

import duckdb
import pytest
from PIL import Image
from smtp_fixtures import SNAPSHOT, demo_estate

from reports.charts import (
    HEIGHT,
    WIDTH,
    TrendPoint,
    cost_chart,
    cost_trend,
    coverage_chart,
    coverage_trend,
    day_label,
    fmt_axis_number,
)

END = date(2026, 11, 28)


def points(n: int, start: float = 70.0, band: bool = False) -> list[TrendPoint]:
    out = []
    for i in range(n):
        value = start + (i * 7 % 13) * 1.5
        out.append(TrendPoint(END - timedelta(days=n - 1 - i), value, value - 3 if band else None,
                              value + 3 if band else None))
    return out


def image(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data))


def dark_pixels(img: Image.Image, box: tuple[int, int, int, int]) -> int:
    gray = img.convert("L").crop(box)
    return sum(1 for value in gray.getdata() if value < 128)


@pytest.mark.parametrize("n", [0, 1, 2, 7, 90, 180])
def test_charts_are_small_sized_pngs(n):
    for data in (coverage_chart(points(n)), cost_chart(points(n, 100, band=True), "EUR")):
        assert data.startswith(b"\x89PNG\r\n\x1a\n")
        assert len(data) < 100_000
        img = image(data)
        assert img.size == (WIDTH, HEIGHT)


def test_charts_are_deterministic():
    assert coverage_chart(points(30)) == coverage_chart(points(30))
    assert cost_chart(points(30, band=True), "USD") == cost_chart(points(30, band=True), "USD")
    assert coverage_chart(points(30)) != coverage_chart(points(29))


def test_png_holds_no_metadata_that_changes():
    img = image(coverage_chart(points(7)))
    assert not {"date", "Creation Time", "timestamp"} & set(img.info)


def test_labels_are_drawn():
    img = image(coverage_chart(points(7)))
    assert dark_pixels(img, (0, 0, WIDTH // 2, 60)) > 200  # the title
    assert dark_pixels(img, (0, 60, 100, HEIGHT - 52)) > 100  # y axis labels
    assert dark_pixels(img, (100, HEIGHT - 45, WIDTH, HEIGHT)) > 100  # dates


def test_label_formats():
    assert day_label(date(2026, 1, 5)) == "Jan 5"
    assert [fmt_axis_number(v) for v in (0, 2.5, 150, 1500, 12_000, 2_500_000)] == \
        ["0", "2.5", "150", "1,500", "12k", "2.5M"]


def test_trends_come_from_the_daily_views(tmp_path_factory):
    estate = demo_estate(tmp_path_factory)
    with duckdb.connect(str(estate.database), read_only=True) as con:
        coverage = coverage_trend(con, SNAPSHOT)
        cost = cost_trend(con, SNAPSHOT)
        nights = con.execute("select count(distinct snapshot_date) from coverage_daily").fetchone()[0]
        last = con.execute("select sum(protected), sum(running_machines) - sum(exempt) - sum(not_applicable) "
                           "from coverage_daily where snapshot_date = ?", [SNAPSHOT]).fetchone()
        day_cost = con.execute("select sum(cost) from license_cost_daily where snapshot_date = ?",
                               [SNAPSHOT]).fetchone()[0]
        summary = con.execute("select coverage_pct from coverage_summary where dimension = 'overall'").fetchone()[0]
    assert len(coverage) == nights == 3
    assert coverage[-1].night == SNAPSHOT
    assert coverage[-1].value == pytest.approx(100 * last[0] / last[1], abs=0.01)
    assert coverage[-1].value == pytest.approx(summary, abs=0.01)  # the report's own headline
    assert cost and cost[-1].value == pytest.approx(day_cost)
    assert all(p.low <= p.value <= p.high for p in cost)
