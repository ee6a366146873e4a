"""E-mail delivery of the nightly reports.

Public API (the flow and the CLI call these)::

    build_messages(settings, database_path, report_dir, snapshot_date) -> list[EmailMessage]
    deliver(settings, messages, *, dry_run_dir=None) -> DeliveryResult

``build_messages`` reads the analyst database (read-only) and the written reports, and returns one
message with the full reports per ``[email] recipients`` address and one scoped message per owner
(:mod:`reports.mail.routing`), pseudonymized when ``[reports] pseudonymize`` is on
(:mod:`reports.pseudonym`). It raises :class:`MailBuildError` when there is nothing sound to send.
``deliver`` sends them over SMTP (:mod:`reports.mail.smtp`) or writes ``.eml`` files, and never raises:
failures are in ``DeliveryResult.failed``.
"""

from reports.mail.message import MailBuildError, build_messages, message_size
from reports.mail.smtp import DeliveryResult, FailedMessage, SentMessage, deliver

__all__ = [
    "DeliveryResult",
    "FailedMessage",
    "MailBuildError",
    "SentMessage",
    "build_messages",
    "deliver",
    "message_size",
]
