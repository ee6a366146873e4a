"""Stable pseudonyms for emailed content: host names, machine names, IP addresses and owners.

Organisations whose mail leaves their data boundary set ``[reports] pseudonymize = true``; every emailed
part (HTML, plain text, CSV) then shows ``host-3f9a1c2e``, ``owner-07bd44a1``, ``ip-c41e9b02`` instead of the
real values, while the analyst database keeps them. A pseudonym is the HMAC-SHA256 of the normalised value
(lower case, with its kind as domain separator) under a per-installation key, so the same host has the
same pseudonym every night and on every report, but nobody without the key can confirm a guess.

The key never lives in the config file: it is read from the environment variable ``EDRCOV_PSEUDONYM_KEY``
or, when that is unset, from the Prefect Secret block named by ``EDRCOV_PSEUDONYM_SECRET_BLOCK`` (default
``edrcov-pseudonym-key``). Keys shorter than 16 characters are refused.

Public API::

    load_key() -> bytes
    Pseudonymizer(key, values={kind: [value, ...]})
        .pseudonym(kind, value) -> str        # 'host-3f9a1c2e'
        .text(text) -> str                    # every known value and IP address replaced
        .html(html) -> str                    # the same, in text nodes and title/alt attributes only
    sensitive_values(con, snapshot_date, owner_tags=()) -> dict[kind, set[str]]
"""

from __future__ import annotations

import hashlib
import hmac
import html as html_lib
import ipaddress
import json
import os
import re
from collections.abc import Iterable, Mapping
from datetime import date

import duckdb

KEY_ENV = "EDRCOV_PSEUDONYM_KEY"
SECRET_BLOCK_ENV = "EDRCOV_PSEUDONYM_SECRET_BLOCK"
DEFAULT_SECRET_BLOCK = "edrcov-pseudonym-key"
MIN_KEY_CHARS = 16
#: Hex digits of the HMAC kept: 32 bits, so collisions stay rare up to tens of thousands of hosts.
DIGEST_CHARS = 8

HOST, OWNER, IP, MACHINE = "host", "owner", "ip", "machine"
#: When one value is both (a machine named like its owner), the first kind listed wins.
KIND_PRIORITY = (HOST, OWNER, MACHINE)

#: Tags and labels that hold an owner, besides the configured routing tags.
OWNER_TAG_KEYS = ("owner", "security-contact", "securitycontact", "contact", "email")

# A "token": what a host name, an FQDN, an e-mail address or a dotted IPv4 address is made of.
_TOKEN = re.compile(r"[\w.@-]+")
_BOUNDARY = re.compile(r"[\w@-]")
_ENTITY = re.compile(r"&(?:#\d+|#x[0-9a-fA-F]+|[A-Za-z][A-Za-z0-9]*);")
_IPV4 = re.compile(r"^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$")
# AWS private DNS names spell the address with dashes: ip-10-0-1-12(.eu-west-1.compute.internal)
_IPV4_DASHED = re.compile(r"^ip-(\d{1,3})-(\d{1,3})-(\d{1,3})-(\d{1,3})$", re.IGNORECASE)
_IPV6_CANDIDATE = re.compile(r"(?<![\w:])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?:%\w+)?(?![\w:])")
_TAG = re.compile(r"<[^>]*>")
_HTML_RAW_TEXT = re.compile(r"<(script|style)\b[^>]*>.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
#: Attributes whose values are shown to the reader; style, class, href targets of cid: etc. are left alone.
_SHOWN_ATTRIBUTES = re.compile(r"""(\s(?:title|alt|aria-label)\s*=\s*)(["'])(.*?)\2""", re.IGNORECASE | re.DOTALL)


class PseudonymKeyError(RuntimeError):
    """No usable pseudonymization key (missing, unreadable or too short)."""


def load_key(environ: Mapping[str, str] | None = None) -> bytes:
    """The per-installation key: ``EDRCOV_PSEUDONYM_KEY``, else the Prefect Secret block.

    Raises :class:`PseudonymKeyError` with a message naming both places when neither holds a usable key.
    The key itself is never part of a message.
    """
    env = os.environ if environ is None else environ
    key = env.get(KEY_ENV)
    source = f"environment variable {KEY_ENV}"
    if not key:
        block = env.get(SECRET_BLOCK_ENV) or DEFAULT_SECRET_BLOCK
        source = f"Prefect Secret block {block!r}"
        key = _secret_block(block)
        if not key:
            raise PseudonymKeyError(
                f"[reports] pseudonymize is on but no pseudonymization key is set: set the environment variable "
                f"{KEY_ENV} or create the Prefect Secret block {block!r} (its name can be changed with "
                f"{SECRET_BLOCK_ENV})")
    if len(key) < MIN_KEY_CHARS:
        raise PseudonymKeyError(f"the pseudonymization key in the {source} is shorter than {MIN_KEY_CHARS} "
                                "characters: use a long random value (e.g. `openssl rand -hex 32`)")
    return key.encode("utf-8")


def _secret_block(name: str) -> str | None:
    try:
        from prefect.blocks.system import Secret

        value = Secret.load(name).get()
    except Exception:  # no server, no block: the caller reports "no key"
        return None
    return None if value is None else str(value)


def _normalise(kind: str, value: str) -> str:
    value = value.strip()
    if kind == IP:
        try:
            return ipaddress.ip_address(value.split("%")[0]).compressed
        except ValueError:
            return value.lower()
    return value.lower()


def _dashed_ip(token: str) -> str | None:
    match = _IPV4_DASHED.match(token)
    return ".".join(match.groups()) if match and _valid_ipv4(match.groups()) else None


def _html_variants(value: str) -> set[str]:
    """The ways a serialiser may have written ``value`` in HTML text (Jinja: &#39;, css-inline: ')."""
    quoted = html_lib.escape(value, quote=True)
    return {value, html_lib.escape(value, quote=False), quoted, quoted.replace("&#x27;", "&#39;"),
            quoted.replace("&quot;", "&#34;").replace("&#x27;", "&#39;")}


def _valid_ipv4(parts: Iterable[str]) -> bool:
    return all(int(part) <= 255 for part in parts)


class _PhraseMatcher:
    """Finds values that span several tokens ('Jane Doe', 'web (old)') in linear time.

    Candidates are indexed by their first token, so a text is scanned once whatever the number of values;
    the few values that do not start with a token character fall back to one regular expression.
    """

    def __init__(self, values: Mapping[str, str]):
        self._by_first: dict[str, list[tuple[str, str]]] = {}
        leftovers: dict[str, str] = {}
        for value, alias in values.items():
            first = _TOKEN.match(value)
            if first:
                self._by_first.setdefault(first.group(0).lower(), []).append((value.lower(), alias))
            else:
                leftovers[value.lower()] = alias
        for candidates in self._by_first.values():
            candidates.sort(key=lambda item: len(item[0]), reverse=True)
        self._leftovers = leftovers
        self._pattern = None
        if leftovers:
            alternatives = "|".join(re.escape(v) for v in sorted(leftovers, key=len, reverse=True))
            self._pattern = re.compile(rf"(?:{alternatives})(?![\w@-])", re.IGNORECASE)

    def __bool__(self) -> bool:
        return bool(self._by_first or self._leftovers)

    def sub(self, text: str) -> str:
        if self._pattern is not None:
            text = self._pattern.sub(lambda m: self._leftovers.get(m.group(0).lower(), m.group(0)), text)
        if not self._by_first:
            return text
        out, position = [], 0
        for match in _TOKEN.finditer(text):
            start = match.start()
            if start < position:
                continue
            candidates = self._by_first.get(match.group(0).lower()) or self._by_first.get(
                match.group(0).rstrip(".").lower())
            for value, alias in candidates or ():
                end = start + len(value)
                if text[start:end].lower() == value and (end == len(text) or not _BOUNDARY.match(text[end])):
                    out += [text[position:start], alias]
                    position = end
                    break
        out.append(text[position:])
        return "".join(out)


class Pseudonymizer:
    """Replaces known sensitive values, and any IP address, with keyed stable pseudonyms.

    ``values`` maps a kind ('host', 'owner') to the real values to hide. Matching is case insensitive and
    on whole tokens (so owner 'web' does not touch project 'acme-web-prod'); an FQDN whose first label is a
    known host is replaced as a whole; values with spaces or punctuation are matched as phrases.
    """

    def __init__(self, key: bytes, values: Mapping[str, Iterable[str | None]] | None = None):
        if not key:
            raise PseudonymKeyError("empty pseudonymization key")
        self._key = bytes(key)
        self._tokens: dict[str, str] = {}  # lower-case token value -> pseudonym
        phrases: dict[str, str] = {}  # values with spaces or punctuation -> pseudonym
        values = values or {}
        for kind in sorted(values, key=lambda k: KIND_PRIORITY.index(k) if k in KIND_PRIORITY else 99):
            for value in values[kind]:
                if value is None or not str(value).strip():
                    continue
                value = str(value).strip()
                alias = self.pseudonym(kind, value)
                if _TOKEN.fullmatch(value):
                    self._tokens.setdefault(value.lower(), alias)
                else:
                    phrases.setdefault(value.lower(), alias)
        self._phrases = _PhraseMatcher(phrases)
        escaped: dict[str, str] = {}
        for value, alias in phrases.items():
            for variant in _html_variants(value):
                escaped.setdefault(variant, alias)
        self._html_phrases = _PhraseMatcher(escaped)

    # ------------------------------------------------------------------------------------------ pseudonyms

    def pseudonym(self, kind: str, value: str) -> str:
        """``<kind>-<8 hex>``: HMAC-SHA256 of ``kind:normalised value`` under the installation key."""
        message = f"{kind}:{_normalise(kind, value)}".encode()
        return f"{kind}-{hmac.new(self._key, message, hashlib.sha256).hexdigest()[:DIGEST_CHARS]}"

    def known(self, value: str) -> bool:
        """Whether ``value`` is one of the single-token values replaced (host names, owners, e-mails)."""
        return value.strip().lower() in self._tokens

    # ------------------------------------------------------------------------------------------------ text

    def _token(self, match: re.Match[str]) -> str:
        token = match.group(0)
        core = token.rstrip(".")
        tail = token[len(core):]
        if not core:
            return token
        found = self._tokens.get(core.lower())
        if found:
            return found + tail
        ip = self._ip(core)
        if ip:
            return ip + tail
        if "." in core:  # an FQDN (or a dotted IP inside a longer token) whose first label is known
            first, _, rest = core.partition(".")
            alias = self._tokens.get(first.lower()) or self._ip(first)
            if alias:
                return alias + tail
            # a name followed by a dotted suffix the cloud appended (name.corp.example)
            return self._ip_in(core) + tail
        return token

    def _ip(self, token: str) -> str | None:
        match = _IPV4.match(token)
        if match and _valid_ipv4(match.groups()):
            return self.pseudonym(IP, token)
        dashed = _dashed_ip(token)
        return self.pseudonym(IP, dashed) if dashed else None

    def _ip_in(self, token: str) -> str:
        """Dotted quads inside a longer token (``10.0.0.5:443`` is split before; ``a.10.0.0.5`` here)."""
        return re.sub(r"(?<!\d)(\d{1,3}(?:\.\d{1,3}){3})(?![\d])",
                      lambda m: self._ip(m.group(1)) or m.group(1), token)

    def _ipv6(self, match: re.Match[str]) -> str:
        text = match.group(0)
        if text.count(":") < 2 or not re.search(r"[0-9A-Fa-f]", text):
            return text
        try:
            ipaddress.ip_address(text.split("%")[0])
        except ValueError:
            return text
        return self.pseudonym(IP, text)

    def text(self, text: str | None) -> str | None:
        """Plain text (or one CSV cell) with every known value and every IP address replaced."""
        if not text:
            return text
        if self._phrases:
            text = self._phrases.sub(text)
        text = _IPV6_CANDIDATE.sub(self._ipv6, text)
        return _TOKEN.sub(self._token, text)

    def _html_text(self, text: str) -> str:
        if self._html_phrases:
            text = self._html_phrases.sub(text)
        # Entities (&amp; &#39;) are kept whole: a host called 'amp' must not break them.
        pieces = _ENTITY.split(text)
        entities = _ENTITY.findall(text)
        out = []
        for i, piece in enumerate(pieces):
            piece = _IPV6_CANDIDATE.sub(self._ipv6, piece)
            out.append(_TOKEN.sub(self._token, piece))
            if i < len(entities):
                out.append(entities[i])
        return "".join(out)

    def _html_tag(self, tag: str) -> str:
        return _SHOWN_ATTRIBUTES.sub(lambda m: m.group(1) + m.group(2) + self._html_text(m.group(3)) + m.group(2),
                                     tag)

    def html(self, html: str) -> str:
        """HTML with values replaced in text nodes and shown attributes (title, alt, aria-label) only:
        markup, styles and ``cid:`` references are never touched."""
        out = []
        position = 0
        for raw in _HTML_RAW_TEXT.finditer(html):  # <style>/<script> bodies are code, not text
            out.append(self._html_chunk(html[position:raw.start()]))
            out.append(raw.group(0))
            position = raw.end()
        out.append(self._html_chunk(html[position:]))
        return "".join(out)

    def _html_chunk(self, chunk: str) -> str:
        out = []
        position = 0
        for tag in _TAG.finditer(chunk):
            out.append(self._html_text(chunk[position:tag.start()]))
            out.append(self._html_tag(tag.group(0)))
            position = tag.end()
        out.append(self._html_text(chunk[position:]))
        return "".join(out)


# ----------------------------------------------------------------------------------------- the database


def _has_view(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    return bool(con.execute("select count(*) from information_schema.tables "
                            "where table_schema = current_schema() and table_name = ?", [name]).fetchone()[0])


def _columns(con: duckdb.DuckDBPyConnection, name: str) -> set[str]:
    return {r[0] for r in con.execute("select column_name from information_schema.columns "
                                      "where table_schema = current_schema() and table_name = ?",
                                      [name]).fetchall()}


def sensitive_values(con: duckdb.DuckDBPyConnection, snapshot_date: date | None = None,
                     owner_tags: Iterable[str] = ()) -> dict[str, set[str]]:
    """Every host name, machine name and owner the reports can show, read from the analyst database.

    Reads ``machines`` (names, host names, owners, and the values of owner-like tags such as the routing
    tags), and the retained history (``machine_history``, ``coverage_changes``, ``time_to_protect``,
    ``machine_timeline``) so that machines gone since, still named in trends and changes, are covered too.
    Machine keys are not listed: they embed the names, and CSV columns of keys are pseudonymized whole.
    """
    hosts: set[str] = set()
    owners: set[str] = set()
    tag_keys = {t.lower() for t in (*OWNER_TAG_KEYS, *owner_tags)}
    tag_keys |= {t.replace("-", "") for t in tag_keys} | {t.replace("-", "_") for t in tag_keys}
    if _has_view(con, "machines"):
        cols = _columns(con, "machines")
        wanted = [c for c in ("machine_name", "host_name", "owner", "tags_json") if c in cols]
        where = " where snapshot_date = ?" if snapshot_date and "snapshot_date" in cols else ""
        result = con.execute(f"select {', '.join(wanted)} from machines{where}",
                             [snapshot_date] if where else [])
        for row in result.fetchall():
            record = dict(zip(wanted, row, strict=True))
            hosts.update(v for v in (record.get("machine_name"), record.get("host_name")) if v)
            if record.get("owner"):
                owners.add(record["owner"])
            owners.update(_tag_owners(record.get("tags_json"), tag_keys))
    for view in ("machine_history", "coverage_changes", "time_to_protect", "machine_timeline"):
        if not _has_view(con, view):
            continue
        cols = _columns(con, view)
        for column, target in (("machine_name", hosts), ("owner", owners)):
            if column in cols:
                target.update(r[0] for r in con.execute(f"select distinct {column} from {view} "
                                                        f"where {column} is not null").fetchall())
    return {HOST: hosts, OWNER: owners}


def _tag_owners(tags_json: str | None, keys: set[str]) -> list[str]:
    if not tags_json:
        return []
    try:
        tags = json.loads(tags_json)
    except ValueError:
        return []
    if not isinstance(tags, dict):
        return []
    found = []
    for key, value in tags.items():
        if str(key).lower() in keys and value:
            found.append(str(value))
            found.extend(part for part in re.split(r"[,;\s]+", str(value)) if part)
    return found
