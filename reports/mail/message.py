"""Building the nightly e-mails from the written reports and the analyst database.

Every message has this shape (mail clients run no JavaScript and many drop inline SVG, so the charts are
PNG images referenced by Content-ID)::

    multipart/mixed
      multipart/alternative
        text/plain                      summary: coverage, verdicts, changes, recommendations, costs
        multipart/related
          text/html                     the report, charts block first, CSS already inlined
          image/png  <coverage-trend…>  cid: images
          image/png  <cost-trend…>
      text/csv  recommendations.csv     every open recommendation (of the owner's machines)

``recipients`` get the full reports: ``coverage.html`` and, when written, ``licensing.html`` in one HTML
body (one mail a night, one set of charts; the cost chart belongs with the licensing figures). Owners found
by :mod:`reports.mail.routing` get a short report about their machines only. An address in both gets the
full reports only.

When a message exceeds ``[email] max_message_bytes`` the CSV attachment is dropped and the text and HTML
say so; a message still too big is returned as is and :func:`reports.mail.smtp.deliver` records it as failed
(``MessageTooLarge``) without stopping the others.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formatdate, make_msgid
from html import escape
from pathlib import Path

import duckdb

from flows.settings import Settings
from reports.charts import DISPLAY_HEIGHT, DISPLAY_WIDTH, cost_chart, coverage_chart
from reports.mail.data import Summary, has_view, recommendations_csv, register_scope, summarize
from reports.mail.routing import owner_routes
from reports.mail.scoped import render_owner_html
from reports.mail.text import full_text, owner_text
from reports.pseudonym import Pseudonymizer, load_key, sensitive_values
from reports.render import inline_css

COVERAGE_FILE = "coverage.html"
LICENSING_FILE = "licensing.html"
CSV_FILENAME = "recommendations.csv"
#: Headers telling the flow (and tests) what a message is.
KIND_HEADER = "X-Edrcov-Kind"  # full | owner
DROPPED_HEADER = "X-Edrcov-Dropped"  # recommendations.csv, when the size cap removed it
#: Reports rendered before these features existed may lack them; the mail never contains a <style> block.
_STYLE_BLOCK = re.compile(r"<style\b", re.IGNORECASE)
_BODY_OPEN = re.compile(r"<body\b[^>]*>", re.IGNORECASE)
_BODY_INNER = re.compile(r"<body\b[^>]*>(.*)</body\s*>", re.IGNORECASE | re.DOTALL)


class MailBuildError(RuntimeError):
    """The messages cannot be built (no report, no snapshot, no pseudonymization key...)."""


@dataclass(frozen=True)
class ChartImage:
    name: str  # file name stem, also the Content-ID's left part
    cid: str  # without angle brackets
    alt: str
    data: bytes


def message_size(message: EmailMessage) -> int:
    """Bytes on the wire (CRLF line ends), as SMTP's SIZE counts them."""
    return len(message.as_bytes(policy=SMTP))


# ------------------------------------------------------------------------------------------------- HTML


def _load_report(path: Path) -> str:
    html = path.read_text(encoding="utf-8")
    if _STYLE_BLOCK.search(html):  # every report is written inlined; an older or foreign one is fixed here
        html = inline_css(html)
    return html


def _body_inner(html: str) -> str:
    found = _BODY_INNER.search(html)
    return found.group(1) if found else html


def charts_block(images: list[ChartImage]) -> str:
    """A table of ``<img src="cid:...">`` cells, side by side, sized for the reports' 880 px container."""
    cells = "".join(
        f'<td align="center" valign="top" style="padding:0 4px">'
        f'<img src="cid:{escape(i.cid)}" alt="{escape(i.alt)}" width="{DISPLAY_WIDTH}" height="{DISPLAY_HEIGHT}" '
        f'style="display:block;border:0;width:{DISPLAY_WIDTH}px;max-width:100%;height:auto"></td>' for i in images)
    return ('<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" bgcolor="#f3f4f6" '
            'style="border-collapse:collapse;background-color:#f3f4f6"><tbody><tr><td align="center" '
            'style="padding:24px 12px 0 12px"><table role="presentation" width="880" cellpadding="0" cellspacing="0" '
            'border="0" bgcolor="#ffffff" style="border-collapse:collapse;background-color:#ffffff;'
            f'border:1px solid #e5e7eb"><tbody><tr>{cells}</tr></tbody></table></td></tr></tbody></table>')


def _notice_block(text: str) -> str:
    return ('<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" bgcolor="#f3f4f6" '
            'style="border-collapse:collapse"><tbody><tr><td align="center" style="padding:16px 12px 0 12px">'
            '<table role="presentation" width="880" cellpadding="0" cellspacing="0" border="0"><tbody><tr>'
            '<td style="padding:10px 14px;background-color:#fff7ed;border-left:4px solid #b7791f;color:#7c2d12;'
            'font-family:-apple-system, \'Segoe UI\', Roboto, Helvetica, Arial, sans-serif;font-size:13px">'
            f'{escape(text)}</td></tr></tbody></table></td></tr></tbody></table>')


def insert_after_body(html: str, block: str) -> str:
    """Put ``block`` first in the body (or first in the document when there is no ``<body>``)."""
    found = _BODY_OPEN.search(html)
    if not found:
        return block + html
    return html[:found.end()] + block + html[found.end():]


def append_to_body(html: str, block: str) -> str:
    index = html.lower().rfind("</body")
    return html + block if index < 0 else html[:index] + block + html[index:]


# ------------------------------------------------------------------------------------------------- MIME


def _msgid_domain(sender: str) -> str:
    domain = sender.rpartition("@")[2].strip(" >")
    return domain if re.fullmatch(r"[A-Za-z0-9.-]+", domain or "") else "edrcov.invalid"


def assemble(*, sender: str, recipient: str, subject: str, kind: str, snapshot: date, text: str, html: str,
             images: list[ChartImage], csv_text: str | None) -> EmailMessage:
    """One message in the documented MIME shape."""
    if _STYLE_BLOCK.search(html):  # Gmail and Outlook drop or mangle <style>: the mail must not rely on one
        raise MailBuildError("the HTML body still holds a <style> block after inlining")
    message = EmailMessage()
    message["From"] = sender
    message["To"] = recipient
    message["Subject"] = subject
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = make_msgid(idstring=f"edrcov.{kind}", domain=_msgid_domain(sender))
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies
    message["X-Auto-Response-Suppress"] = "All"
    message[KIND_HEADER] = kind
    message["X-Edrcov-Snapshot"] = snapshot.isoformat()
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    html_part = message.get_payload()[1]
    for image in images:
        html_part.add_related(image.data, maintype="image", subtype="png", cid=f"<{image.cid}>",
                              filename=f"{image.name}.png", disposition="inline")
    if csv_text is not None:
        message.add_attachment(csv_text, subtype="csv", filename=CSV_FILENAME)
    return message


def _charts(summary: Summary, scoped: bool) -> list[ChartImage]:
    stamp = summary.snapshot_date.strftime("%Y%m%d")
    who = "your machines" if scoped else "running machines"
    images = [ChartImage("coverage-trend", f"coverage-trend.{stamp}@edrcov",
                         f"EDR coverage of {who}, last {len(summary.coverage_trend)} nights",
                         coverage_chart(summary.coverage_trend, title=f"EDR coverage, {who}"))]
    if summary.costs is not None or summary.cost_trend:
        currency = summary.costs.currency if summary.costs else ""
        title = "Defender cost per night, your machines" if scoped else "Defender for Servers cost per night"
        images.append(ChartImage("cost-trend", f"cost-trend.{stamp}@edrcov",
                                 f"Defender for Servers cost per night ({currency}), central estimate with the "
                                 "low-high band", cost_chart(summary.cost_trend, currency, title=title)))
    return images


def _csv_note(rows: int, attached: bool, cap: int) -> str:
    if attached:
        return f"Attached: {CSV_FILENAME}, every open recommendation ({rows:,} rows)."
    return (f"The {CSV_FILENAME} attachment ({rows:,} rows) was left out: with it this message would exceed "
            f"the {cap:,}-byte limit ([email] max_message_bytes). The recommendations view of the analyst "
            "database holds them all.")


# --------------------------------------------------------------------------------------------- building


class _Builder:
    def __init__(self, settings: Settings, con: duckdb.DuckDBPyConnection, report_dir: Path, snapshot: date):
        self.settings, self.con, self.report_dir, self.snapshot = settings, con, Path(report_dir), snapshot
        self.email = settings.email
        self.cap = settings.email.max_message_bytes
        self.pseudonymizer: Pseudonymizer | None = None
        if settings.reports.pseudonymize:
            try:
                key = load_key()
            except Exception as exc:  # never fall back to real names
                raise MailBuildError(str(exc)) from None
            values = sensitive_values(con, snapshot, self.email.routing_tags)
            self.pseudonymizer = Pseudonymizer(key, values)

    def _private_html(self, html: str) -> str:
        return self.pseudonymizer.html(html) if self.pseudonymizer else html

    def _private_text(self, text: str) -> str:
        return self.pseudonymizer.text(text) if self.pseudonymizer else text

    def _fit(self, make, recipient: str) -> EmailMessage:
        """Build with the CSV; past the cap, without it (saying so). Deliver enforces the cap itself."""
        message = make(recipient, attach=True)
        if message_size(message) <= self.cap:
            return message
        smaller = make(recipient, attach=False)
        smaller[DROPPED_HEADER] = CSV_FILENAME
        return smaller

    # ---------------------------------------------------------------------------------------- full report

    def full_messages(self) -> list[EmailMessage]:
        if not self.email.recipients:
            return []
        coverage_path = self.report_dir / COVERAGE_FILE
        if not coverage_path.is_file():
            raise MailBuildError(f"no coverage report to send: {coverage_path} does not exist (write the reports "
                                 "first)")
        html = _load_report(coverage_path)
        reports = ["coverage report"]
        licensing_path = self.report_dir / LICENSING_FILE
        if licensing_path.is_file():
            html = append_to_body(html, '<div style="height:8px;line-height:8px">&nbsp;</div>'
                                  + _body_inner(_load_report(licensing_path)))
            reports.append("licensing report")
        summary = summarize(self.con, self.snapshot)
        images = _charts(summary, scoped=False)
        csv_text, csv_rows = recommendations_csv(self.con, self.snapshot, pseudonymizer=self.pseudonymizer)
        pct = "no coverage figure" if summary.coverage_pct is None else f"{summary.coverage_pct:.1f}% protected"
        subject = (f"EDR coverage {self.snapshot.isoformat()}: {pct}, {summary.without_edr:,} running machines "
                   "without EDR")
        pseudonymized = self.pseudonymizer is not None
        # The same bodies for every recipient: pseudonymize once.
        bodies: dict[bool, tuple[str, str]] = {}

        def make(recipient: str, *, attach: bool) -> EmailMessage:
            if attach not in bodies:
                note = _csv_note(csv_rows, attach, self.cap)
                text = full_text(summary, csv_note=note, reports=reports, pseudonymized=pseudonymized)
                body = insert_after_body(html, charts_block(images) + ("" if attach else _notice_block(note)))
                bodies[attach] = (self._private_text(text), self._private_html(body))
            text, body = bodies[attach]
            return assemble(sender=self.email.sender, recipient=recipient, subject=subject, kind="full",
                            snapshot=self.snapshot, text=text, html=body, images=images,
                            csv_text=csv_text if attach else None)

        unique: dict[str, str] = {}
        for recipient in self.email.recipients:  # an address listed twice gets one message
            unique.setdefault(recipient.strip().lower(), recipient.strip())
        return [self._fit(make, recipient) for recipient in unique.values()]

    # -------------------------------------------------------------------------------------------- owners

    def owner_messages(self) -> list[EmailMessage]:
        routes = owner_routes(self.con, self.snapshot, self.email, exclude=self.email.recipients)
        messages = []
        list_cap = self.settings.reports.list_cap
        pseudonymized = self.pseudonymizer is not None
        for route in routes:
            register_scope(self.con, route.machine_keys)
            summary = summarize(self.con, self.snapshot, scoped=True, list_cap=list_cap)
            images = _charts(summary, scoped=True)
            csv_text, csv_rows = recommendations_csv(self.con, self.snapshot, scoped=True,
                                                     pseudonymizer=self.pseudonymizer)
            via = sorted(route.via)
            subject = (f"EDR coverage {self.snapshot.isoformat()} for your {summary.machines:,} machines: "
                       f"{summary.needs_action_total:,} need action")

            def make(recipient: str, *, attach: bool, summary=summary, images=images, csv_text=csv_text,
                     csv_rows=csv_rows, via=via, subject=subject) -> EmailMessage:
                note = _csv_note(csv_rows, attach, self.cap)
                text = owner_text(summary, recipient=recipient, via=via, csv_note=note, list_cap=list_cap,
                                  pseudonymized=pseudonymized)
                html = render_owner_html(summary, recipient=recipient, via=via, csv_note=note,
                                         routing_tags=self.email.routing_tags, pseudonymized=pseudonymized,
                                         notice=None if attach else note)
                html = insert_after_body(html, charts_block(images))
                return assemble(sender=self.email.sender, recipient=recipient, subject=subject, kind="owner",
                                snapshot=self.snapshot, text=self._private_text(text),
                                html=self._private_html(html), images=images,
                                csv_text=csv_text if attach else None)

            messages.append(self._fit(make, route.recipient))
        return messages


def build_messages(settings: Settings, database_path: Path, report_dir: Path,
                   snapshot_date: date) -> list[EmailMessage]:
    """Every message of the night: the full reports for each of ``[email] recipients``, then one scoped
    message per owner address. Reads the database read-only and the written reports; writes nothing.

    Raises :class:`MailBuildError` when there is nothing sound to send (no coverage report, a database
    without that snapshot, pseudonymization on without a key).
    """
    database_path = Path(database_path)
    if not database_path.is_file():
        raise MailBuildError(f"analyst database not found: {database_path}")
    con = duckdb.connect(str(database_path), read_only=True)
    try:
        if not has_view(con, "machine_edr_status"):
            raise MailBuildError(f"{database_path} has no machine_edr_status view")
        found = con.execute("select count(*) from machine_edr_status where snapshot_date = ?",
                            [snapshot_date]).fetchone()[0]
        if not found:
            raise MailBuildError(f"{database_path} holds no machines for the snapshot {snapshot_date.isoformat()}")
        builder = _Builder(settings, con, Path(report_dir), snapshot_date)
        return builder.full_messages() + builder.owner_messages()
    finally:
        con.close()
