"""The short HTML report an owner receives about their own machines.

Rendered with the reports' shared Jinja environment (autoescape, strict undefined, the same filters) from a
template kept here, so the package needs no data files, then CSS-inlined like the other reports.
"""

from __future__ import annotations

from functools import lru_cache

from jinja2 import DictLoader, Environment

from reports.mail.data import CHANGE_TYPES, Summary
from reports.mail.text import CHANGE_LABELS, VERDICTS
from reports.render import coverage_level, environment, inline_css, status_level

OWNER_TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light">
<title>{{ title }}</title>
<style>
body { margin: 0; padding: 0; background-color: #f3f4f6; color: #1f2937;
       font-family: -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif; font-size: 14px;
       line-height: 1.45; }
.container { border-collapse: collapse; background-color: #ffffff; border: 1px solid #e5e7eb; }
.header { padding: 20px 28px 16px 28px; border-top: 4px solid #1f4e79; border-bottom: 1px solid #e5e7eb; }
.title { margin: 0; font-size: 22px; line-height: 1.3; font-weight: 600; color: #111827; }
.meta { margin: 6px 0 0 0; font-size: 12px; color: #6b7280; }
.section { padding: 16px 28px; border-bottom: 1px solid #e5e7eb; }
h2 { margin: 0 0 10px 0; font-size: 16px; font-weight: 600; color: #111827; }
.big { font-size: 28px; font-weight: 600; }
.note { margin: 8px 0 0 0; font-size: 12px; color: #6b7280; }
.grid { border-collapse: collapse; width: 100%; font-size: 13px; }
.grid th { text-align: left; padding: 6px 8px; border-bottom: 2px solid #d1d5db; color: #374151;
           font-weight: 600; background-color: #f9fafb; }
.grid td { padding: 5px 8px; border-bottom: 1px solid #e5e7eb; vertical-align: top; }
.num { text-align: right; }
.warning { padding: 10px 14px; background-color: #fff7ed; border-left: 4px solid #b7791f; color: #7c2d12; }
</style>
</head>
<body>
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" bgcolor="#f3f4f6">
<tr><td align="center" style="padding: 24px 12px">
<table class="container" role="presentation" width="880" cellpadding="0" cellspacing="0" border="0"
       bgcolor="#ffffff">
<tr><td class="header">
<h1 class="title">{{ title }}</h1>
<p class="meta">{{ s.machines | num }} machines routed to {{ recipient }} ({{ via | join(', ') }})</p>
</td></tr>
{% if notice %}<tr><td class="section"><div class="warning">{{ notice }}</div></td></tr>{% endif %}
<tr><td class="section">
<h2>Coverage of your running machines</h2>
<div class="big" style="color: {{ level | level_color }}">{{ s.coverage_pct | pct }}</div>
<p class="note">{{ s.protected | num }} of {{ s.assessable | num }} assessable running machines protected;
{{ s.stopped | num }} not running (outside the figure).</p>
<table class="grid" role="presentation" style="margin-top: 10px">
<tr><th>Verdict</th><th class="num">Running</th><th class="num">All</th></tr>
{% for status in verdicts %}
<tr><td style="color: {{ status_level(status) | level_color }}">{{ status | status_label }}</td>
<td class="num">{{ s.running_by_status.get(status, 0) | num }}</td>
<td class="num">{{ s.all_by_status.get(status, 0) | num }}</td></tr>
{% endfor %}
</table>
</td></tr>
{% if s.has_changes_view and s.previous_night %}
<tr><td class="section">
<h2>Changes since {{ s.previous_night | day }}</h2>
{% if s.changes.values() | sum == 0 %}<p class="note">None.</p>{% else %}
<table class="grid" role="presentation">
{% for change in change_types if s.changes.get(change) %}
<tr><td>{{ change_labels[change] | capitalize }}</td><td class="num">{{ s.changes[change] | num }}</td></tr>
{% endfor %}
</table>
{% endif %}
</td></tr>
{% endif %}
<tr><td class="section">
<h2>Machines needing action ({{ s.needs_action_total | num }})</h2>
{% if s.needs_action %}
<table class="grid" role="presentation">
<tr><th>Machine</th><th>Cloud</th><th>Scope</th><th>OS</th><th>Power</th><th>Verdict</th><th>Reason</th>
<th>Plan</th></tr>
{% for m in s.needs_action %}
<tr><td>{{ m.machine_name }}</td><td>{{ m.cloud | cloud_label }}</td><td>{{ m.scope_id }}</td>
<td>{{ m.os_family | os_label }}</td><td>{{ m.power_state | power_label }}</td>
<td style="color: {{ status_level(m.edr_status) | level_color }}">{{ m.edr_status | status_label }}</td>
<td>{{ m.status_reason }}</td><td>{{ m.plan_status | plan_label }}</td></tr>
{% endfor %}
</table>
{% if s.needs_action_total > s.needs_action | length %}
<p class="note">{{ (s.needs_action_total - s.needs_action | length) | num }} more are not listed here.</p>
{% endif %}
{% else %}<p class="note">None: every machine has a working EDR, an exemption or no supported EDR.</p>{% endif %}
</td></tr>
<tr><td class="section">
<h2>Open recommendations ({{ s.recommendation_rows | num }} on {{ s.recommendation_machines | num }} machines)</h2>
{% if s.top_recommendations %}
<table class="grid" role="presentation">
<tr><th>Severity</th><th>Recommendation</th><th class="num">Machines</th></tr>
{% for r in s.top_recommendations %}
<tr><td>{{ r.severity }}</td><td>{{ r.recommendation }}</td><td class="num">{{ r.machines | num }}</td></tr>
{% endfor %}
</table>
{% endif %}
<p class="note">{{ csv_note }}</p>
</td></tr>
{% if s.costs %}
<tr><td class="section">
<h2>Defender for Servers cost of these machines ({{ s.costs.currency }})</h2>
<table class="grid" role="presentation">
<tr><td>Last night</td><td class="num">{{ "%.2f" | format(s.costs.day) }}</td></tr>
{% if s.costs.month_to_date is not none %}
<tr><td>Month to date</td><td class="num">{{ "%.2f" | format(s.costs.month_to_date) }}</td></tr>
{% endif %}
</table>
</td></tr>
{% endif %}
<tr><td class="section" style="border-bottom: 0">
<p class="note">Snapshot {{ s.snapshot_date | day }}. Sent by edrcov to the owners and security contacts of
machines (tags {{ routing_tags | join(', ') }}) and the addresses mapped to their scopes.
{% if pseudonymized %}Host names, machine names, IP addresses and owners are shown as stable pseudonyms.{% endif %}
</p>
</td></tr>
</table>
</td></tr>
</table>
</body></html>
"""


@lru_cache(maxsize=1)
def _environment() -> Environment:
    return environment().overlay(loader=DictLoader({"owner.html.j2": OWNER_TEMPLATE}))


def render_owner_html(s: Summary, *, recipient: str, via: list[str], csv_note: str, routing_tags: list[str],
                      pseudonymized: bool, notice: str | None = None) -> str:
    """The owner's report as HTML with every CSS rule inlined (no ``<style>`` block left)."""
    title = f"EDR coverage of your machines \u2014 {s.snapshot_date.isoformat()}"
    html = _environment().get_template("owner.html.j2").render(
        title=title, s=s, recipient=recipient, via=via, csv_note=csv_note, routing_tags=routing_tags,
        pseudonymized=pseudonymized, notice=notice, verdicts=VERDICTS, change_types=CHANGE_TYPES,
        change_labels=CHANGE_LABELS, level=coverage_level(s.coverage_pct), status_level=status_level)
    return inline_css(html)
