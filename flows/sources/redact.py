"""Secret redaction for anything that may reach logs, Parquet, DuckDB or reports (error messages)."""

from __future__ import annotations

import re

_PATTERNS = [
    # AWS access key ids and secret-looking query parameters of presigned URLs
    (re.compile(r"\b(AKIA|ASIA)[A-Z0-9]{16}\b"), "<aws-key-id>"),
    (re.compile(r"(?i)(X-Amz-(Security-Token|Signature|Credential)=)[^&\s\"']+"), r"\1<redacted>"),
    # bearer tokens, SAS signatures, OAuth tokens, passwords and secrets in key=value or JSON form
    (re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=-]+"), r"\1 <redacted>"),
    (re.compile(r"(?i)\b(sig|access_token|refresh_token|id_token|client_secret|password|secret|token|"
                r"aws_secret_access_key|aws_session_token|sessiontoken)(\"?\s*[:=]\s*\"?)[^\s\"'&,}]+"),
     r"\1\2<redacted>"),
    # JWTs anywhere
    (re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\b"), "<jwt>"),
]


def redact(text: str | None, limit: int = 1000) -> str | None:
    """Remove credentials from ``text`` and cap its length; ``None`` stays ``None``."""
    if text is None:
        return None
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text[:limit]
