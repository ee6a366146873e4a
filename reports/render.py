"""The shared Jinja environment of the reports, their display filters and the CSS inlining step.

Autoescaping is always on (template names end in ``.j2``, so it is not left to extension guessing) and
undefined variables raise, so a template cannot silently print nothing for a misspelt field. Templates
write their CSS in one ``<style>`` block; :func:`inline_css` moves every rule into ``style=`` attributes
and drops the block, because Gmail and Outlook ignore or mangle ``<style>``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from functools import lru_cache
from pathlib import Path

import css_inline
from jinja2 import Environment, FileSystemLoader, StrictUndefined

TEMPLATES_DIR = Path(__file__).parent / "templates"

CLOUD_LABELS = {"azure": "Azure", "aws": "AWS", "gcp": "Google Cloud"}
SCOPE_KINDS = {"azure": "subscription", "aws": "account", "gcp": "project"}
OS_LABELS = {"windows": "Windows", "linux": "Linux", "other": "Other"}
PLAN_LABELS = {"p2": "Plan 2", "p1": "Plan 1", "off": "Off", "unknown": "Unknown"}
STATUS_LABELS = {
    "protected": "Protected",
    "unhealthy": "Unhealthy",
    "not_installed": "Not installed",
    "unknown": "Unknown",
    "exempt": "Exempt",
    "not_applicable": "Not applicable",
}
POWER_LABELS = {
    "running": "Running",
    "stopped": "Stopped",
    "transitioning": "Transitioning",
    "deleted": "Deleted",
    "unknown": "Unknown",
}

#: Colour of each level, for the ``bgcolor``/``color`` attributes Outlook honours where CSS fails.
LEVEL_COLORS = {"good": "#1a7f37", "warn": "#b7791f", "bad": "#c62828", "none": "#9ca3af"}
BAR_TRACK_COLOR = "#e5e7eb"


def coverage_level(pct: float | None) -> str:
    """Colour level of a coverage percentage: green from 95 %, amber from 80 %, red below, grey for none."""
    if pct is None:
        return "none"
    if pct >= 95:
        return "good"
    return "warn" if pct >= 80 else "bad"


def status_level(status: str | None) -> str:
    """Colour level of an EDR verdict."""
    return {
        "protected": "good",
        "unhealthy": "warn",
        "unknown": "warn",
        "not_installed": "bad",
    }.get(status or "", "none")


def severity_level(severity: str | None) -> str:
    """Colour level of a recommendation severity."""
    return {"High": "bad", "Medium": "warn", "Low": "none"}.get(severity or "", "none")


def fmt_num(value: int | float | None) -> str:
    """Thousands separators: 12345 -> '12,345'; None -> an em dash."""
    if value is None:
        return "\u2014"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.1f}"
    return f"{int(value):,}"


def fmt_pct(value: float | None) -> str:
    """One decimal and a percent sign: 57.142 -> '57.1%'; None -> an em dash."""
    return "\u2014" if value is None else f"{value:,.1f}%"


def bar_width(value: float | None) -> int:
    """Width in whole percent (0-100) of the filled part of a coverage bar."""
    if value is None:
        return 0
    return max(0, min(100, round(value)))


MINUS = "\u2212"


def fmt_money(value: float | None, currency: str | None = None, decimals: int = 2) -> str:
    """An amount with its currency code and thousands separators: (4468.2, 'USD') -> 'USD 4,468.20'.

    Negative amounts take a minus sign before the code ('\u2212USD 12.00'); None -> an em dash.
    """
    if value is None:
        return "\u2014"
    amount = round(float(value), decimals)
    text = f"{abs(amount):,.{decimals}f}"
    if currency:
        text = f"{currency} {text}"
    return f"{MINUS}{text}" if amount < 0 else text


def fmt_rate(value: float | None, currency: str | None = None) -> str:
    """A price or cost per hour, 2 to 4 decimals: (0.007, 'USD') -> 'USD 0.007'; (0.02, 'USD') -> 'USD 0.02'."""
    if value is None:
        return "\u2014"
    text = fmt_money(value, currency, 4)
    whole, _, decimals = text.rpartition(".")
    return f"{whole}.{decimals.rstrip('0').ljust(2, '0')}"


def fmt_hours(value: float | None) -> str:
    """Hours with thousands separators: whole hours from 100 up, else one decimal ('12.5', '24', '58,488')."""
    if value is None:
        return "\u2014"
    value = float(value)
    if abs(value) >= 100:
        return f"{value:,.0f}"
    text = f"{value:,.1f}"
    return text[:-2] if text.endswith(".0") else text


def fmt_when(value: datetime | None) -> str:
    """A timestamp as 'YYYY-MM-DD HH:MM UTC' (naive timestamps are taken to be UTC)."""
    if value is None:
        return "\u2014"
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%d %H:%M UTC")


def fmt_day(value: date | None) -> str:
    """A date as 'YYYY-MM-DD'."""
    return "\u2014" if value is None else value.isoformat()


def _label(mapping: dict[str, str]):
    def label(value: str | None) -> str:
        if value is None or value == "":
            return "(none)"
        return mapping.get(value, value)

    return label


def scope_kind(cloud: str | None) -> str:
    """'subscription', 'account' or 'project' for a cloud, 'scope' otherwise."""
    return SCOPE_KINDS.get(cloud or "", "scope")


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(
        num=fmt_num,
        pct=fmt_pct,
        money=fmt_money,
        rate=fmt_rate,
        hours=fmt_hours,
        bar_width=bar_width,
        when=fmt_when,
        day=fmt_day,
        cloud_label=_label(CLOUD_LABELS),
        os_label=_label(OS_LABELS),
        plan_label=_label(PLAN_LABELS),
        status_label=_label(STATUS_LABELS),
        power_label=_label(POWER_LABELS),
        scope_kind=scope_kind,
        level_color=lambda level: LEVEL_COLORS.get(level, LEVEL_COLORS["none"]),
    )
    env.globals.update(BAR_TRACK_COLOR=BAR_TRACK_COLOR)
    return env


@lru_cache(maxsize=1)
def environment() -> Environment:
    """The shared Jinja environment (autoescape on, strict undefined, report filters)."""
    return _environment()


def inline_css(html: str) -> str:
    """Move the ``<style>`` rules into ``style=`` attributes and drop the block; never fetch anything."""
    inliner = css_inline.CSSInliner(
        inline_style_tags=True,
        keep_style_tags=False,
        keep_link_tags=False,
        keep_at_rules=False,
        load_remote_stylesheets=False,
        minify_css=True,
    )
    return inliner.inline(html)


def render_template(name: str, **variables: object) -> str:
    """Render a template of ``reports/templates`` and inline its CSS."""
    return inline_css(environment().get_template(name).render(**variables))


def render_report(template: str, context: object) -> str:
    """Render a report template with the context dataclass's fields as top-level variables (nested
    dataclasses stay objects), then inline every CSS rule into ``style=`` attributes for mail clients."""
    from dataclasses import fields

    variables = {f.name: getattr(context, f.name) for f in fields(context)}
    return inline_css(environment().get_template(template).render(**variables))
