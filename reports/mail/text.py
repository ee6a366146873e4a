"""The plain-text part of each message: the figures a reader needs without the HTML, in 78 columns."""

from __future__ import annotations

from reports.mail.data import CHANGE_TYPES, Summary
from reports.render import CLOUD_LABELS, STATUS_LABELS, fmt_num, fmt_pct, scope_kind

CHANGE_LABELS = {
    "newly_unprotected": "newly unprotected",
    "new_machine": "new machines",
    "machine_gone": "machines gone",
    "newly_protected": "newly protected",
    "exemption_expiring": "exemptions expiring within 14 days",
}
#: Verdicts listed worst first.
VERDICTS = ("not_installed", "unhealthy", "unknown", "protected", "exempt", "not_applicable")


def _money(value: float | None) -> str:
    return "\u2014" if value is None else f"{value:,.2f}"


def _where(cloud: str | None, scope_id: str | None) -> str:
    return f"{CLOUD_LABELS.get(cloud or '', cloud or '?')} {scope_kind(cloud)} {scope_id or '?'}"


def _headline(s: Summary) -> list[str]:
    if s.coverage_pct is None:
        cover = "Coverage: no assessable running machine."
    else:
        cover = (f"Coverage: {fmt_pct(s.coverage_pct)} of running machines protected "
                 f"({fmt_num(s.protected)} of {fmt_num(s.assessable)} assessable).")
    lines = [cover, f"Machines: {fmt_num(s.machines)} ({fmt_num(s.running)} running, "
                    f"{fmt_num(s.stopped)} not running: outside the coverage figure).", ""]
    lines.append(f"{'Verdict':<18}{'running':>9}{'all':>9}")
    for status in VERDICTS:
        lines.append(f"{STATUS_LABELS[status]:<18}{fmt_num(s.running_by_status.get(status, 0)):>9}"
                     f"{fmt_num(s.all_by_status.get(status, 0)):>9}")
    return lines


def _changes(s: Summary) -> list[str]:
    if not s.has_changes_view:
        return []
    if s.previous_night is None:
        return ["", "Changes: no earlier night to compare with."]
    lines = ["", f"Changes since {s.previous_night.isoformat()}:"]
    if not any(s.changes.values()):
        lines.append("  none.")
        return lines
    for change in CHANGE_TYPES:
        if s.changes.get(change):
            lines.append(f"  {fmt_num(s.changes[change]):>7}  {CHANGE_LABELS[change]}")
    for c in s.change_examples:
        if c.change_type == "newly_unprotected":
            lines.append(f"  - {c.machine_name} ({_where(c.cloud, c.scope_id)}): "
                         f"{c.previous_status or '?'} -> {c.current_status or '?'}")
        else:
            lines.append(f"  - {c.machine_name} ({_where(c.cloud, c.scope_id)}): exemption ends {c.detail or '?'}")
    shown = len(s.change_examples)
    listed_total = s.changes.get("newly_unprotected", 0) + s.changes.get("exemption_expiring", 0)
    if listed_total > shown:
        lines.append(f"  ... and {fmt_num(listed_total - shown)} more in the coverage_changes view.")
    return lines


def _recommendations(s: Summary, csv_note: str) -> list[str]:
    lines = ["", f"Open recommendations: {fmt_num(s.recommendation_rows)} on "
                 f"{fmt_num(s.recommendation_machines)} machines."]
    for r in s.top_recommendations:
        lines.append(f"  [{r.severity}] {r.recommendation}: {fmt_num(r.machines)} machines")
    more = s.recommendation_groups - len(s.top_recommendations)
    if more > 0:
        lines.append(f"  ... and {fmt_num(more)} more kinds.")
    lines.append(csv_note)
    return lines


def _costs(s: Summary) -> list[str]:
    c = s.costs
    if c is None:
        return []
    lines = ["", f"Defender for Servers cost ({c.currency}):"]
    band = ""
    if c.day_low is not None and c.day_high is not None and (c.day_low, c.day_high) != (c.day, c.day):
        band = f" (estimate {_money(c.day_low)} to {_money(c.day_high)})"
    lines.append(f"  {'Last night:':<22}{_money(c.day):>12}{band}")
    if c.month_to_date is not None:
        lines.append(f"  {'Month to date:':<22}{_money(c.month_to_date):>12}")
    if c.projected_month_end is not None:
        lines.append(f"  {'Projected month end:':<22}{_money(c.projected_month_end):>12}")
    return lines


def full_text(s: Summary, *, csv_note: str, reports: list[str], pseudonymized: bool) -> str:
    title = f"EDR coverage report, snapshot {s.snapshot_date.isoformat()}"
    lines = [title, "=" * len(title), "", *_headline(s), *_changes(s), *_recommendations(s, csv_note), *_costs(s)]
    lines += ["", f"The HTML version of this message holds the {' and the '.join(reports)}, with trend charts."]
    if pseudonymized:
        lines.append("Host names, machine names, IP addresses and owners are shown as stable pseudonyms.")
    return "\n".join(lines) + "\n"


def owner_text(s: Summary, *, recipient: str, via: list[str], csv_note: str, list_cap: int,
               pseudonymized: bool) -> str:
    title = f"EDR coverage of your machines, snapshot {s.snapshot_date.isoformat()}"
    lines = [title, "=" * len(title), "",
             f"You receive this for {fmt_num(s.machines)} machines routed to {recipient} ({', '.join(via)}).",
             "", *_headline(s), *_changes(s)]
    lines += ["", f"Machines needing action (no EDR, failing EDR or unknown): {fmt_num(s.needs_action_total)}"]
    for m in s.needs_action[:list_cap]:
        lines.append(f"  - {m.machine_name} ({_where(m.cloud, m.scope_id)}, {m.os_family}, {m.power_state}): "
                     f"{STATUS_LABELS.get(m.edr_status, m.edr_status)}, {m.status_reason}")
    if s.needs_action_total > len(s.needs_action):
        lines.append(f"  ... and {fmt_num(s.needs_action_total - len(s.needs_action))} more "
                     "(see the attachment).")
    lines += [*_recommendations(s, csv_note), *_costs(s)]
    if pseudonymized:
        lines += ["", "Host names, machine names, IP addresses and owners are shown as stable pseudonyms."]
    return "\n".join(lines) + "\n"
