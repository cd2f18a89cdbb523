"""Why something failed, in the user's language.

An app error's ``reason`` (``app.errors``: "the request timed out", "device stopped",
"network error (ConnectError)") and a refused record's stored reason (the sync
details) are English fragments written below ``ui/``, where nothing translates. This
table names the ones a clinician meets (the record store, sync, devices, the visit and
its media server, the keyring, the encrypted store) for the catalogue (context
``ErrorReasons``); :func:`reason_text` gives them in the user's language.

A reason with a value in it (an HTTP status, an exception's type name, a nested reason)
is matched by a pattern whose values are kept (and translated themselves when they are
known reasons). A whole app message stored as text (a refused record's ``str(exc)``)
is matched against the English message templates and given as the translated message.
Anything else is shown as it is: a server's own words, a reason this table does not
know yet. Nothing here ever raises over a reason's text.

docs/i18n.md lists what is covered and what is not.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from typing import Any

from PySide6.QtCore import QCoreApplication

from app.errors import MESSAGES
from ui.i18n import QT_TRANSLATE_NOOP

CONTEXT = "ErrorReasons"

#: Reasons a clinician meets, marked for the catalogue (English source text).
REASONS = (
    # record store: network and server answers (storage/fhir/client.py)
    QT_TRANSLATE_NOOP("ErrorReasons", "the request timed out"),
    QT_TRANSLATE_NOOP("ErrorReasons", "could not connect"),
    QT_TRANSLATE_NOOP("ErrorReasons", "the TLS handshake failed"),
    QT_TRANSLATE_NOOP("ErrorReasons", "the connection closed before the response was complete"),
    QT_TRANSLATE_NOOP("ErrorReasons", "HTTP 401: not signed in, or the credentials were refused"),
    QT_TRANSLATE_NOOP("ErrorReasons", "HTTP 403: the credentials do not permit this request"),
    QT_TRANSLATE_NOOP("ErrorReasons", "HTTP 429: too many requests"),
    QT_TRANSLATE_NOOP("ErrorReasons", "HTTP 503: the service is unavailable"),
    QT_TRANSLATE_NOOP("ErrorReasons", "the response body is empty"),
    QT_TRANSLATE_NOOP("ErrorReasons", "the response is not valid JSON"),
    QT_TRANSLATE_NOOP("ErrorReasons", "the response is not a FHIR resource"),
    QT_TRANSLATE_NOOP("ErrorReasons", "the response's content encoding is broken"),
    QT_TRANSLATE_NOOP("ErrorReasons", "a URL from the server is malformed"),
    QT_TRANSLATE_NOOP("ErrorReasons", "the server did not say where it stored the Binary"),
    QT_TRANSLATE_NOOP("ErrorReasons", "a search result entry has no resource"),
    QT_TRANSLATE_NOOP("ErrorReasons", "a Bundle response entry has no response"),
    QT_TRANSLATE_NOOP("ErrorReasons", "a Bundle response entry has no status"),
    QT_TRANSLATE_NOOP("ErrorReasons", "a Bundle response entry holds a malformed resource"),
    QT_TRANSLATE_NOOP("ErrorReasons", "the Bundle's entries are malformed"),
    QT_TRANSLATE_NOOP("ErrorReasons", "a Bundle entry is malformed"),
    QT_TRANSLATE_NOOP("ErrorReasons", "a Bundle entry holds a malformed resource"),
    QT_TRANSLATE_NOOP("ErrorReasons", "the server's next links go round in a circle"),
    QT_TRANSLATE_NOOP("ErrorReasons", "the search has more pages than the console follows"),
    QT_TRANSLATE_NOOP("ErrorReasons", "the Bundle's links are malformed"),
    QT_TRANSLATE_NOOP("ErrorReasons", "a next link is malformed"),
    QT_TRANSLATE_NOOP("ErrorReasons", "a next link points to another server"),
    QT_TRANSLATE_NOOP("ErrorReasons", "an auth endpoint URL is malformed"),
    QT_TRANSLATE_NOOP("ErrorReasons", "an auth endpoint URL is not http(s)"),
    QT_TRANSLATE_NOOP("ErrorReasons", "[record_store] url is not a URL"),
    QT_TRANSLATE_NOOP("ErrorReasons", "[record_store] url must be an http(s) base URL"),
    # record store: sign-in (storage/fhir/auth.py)
    QT_TRANSLATE_NOOP("ErrorReasons", "the server advertises no SMART token endpoint"),
    QT_TRANSLATE_NOOP("ErrorReasons", "the advertised token endpoint is not a URL"),
    QT_TRANSLATE_NOOP(
        "ErrorReasons",
        "the advertised token endpoint is neither HTTPS nor on the FHIR server itself",
    ),
    QT_TRANSLATE_NOOP("ErrorReasons", "the token endpoint did not return a JSON object"),
    QT_TRANSLATE_NOOP("ErrorReasons", "the token endpoint returned no usable access_token"),
    QT_TRANSLATE_NOOP("ErrorReasons", "the token endpoint returned a token that is not bearer"),
    QT_TRANSLATE_NOOP("ErrorReasons", "the token endpoint returned an invalid expires_in"),
    QT_TRANSLATE_NOOP("ErrorReasons", "the record_store secret is not a readable PEM private key"),
    QT_TRANSLATE_NOOP("ErrorReasons", "the RSA private key is shorter than 2048 bits"),
    QT_TRANSLATE_NOOP("ErrorReasons", "the private key is neither RSA nor EC P-384 (RS384/ES384)"),
    QT_TRANSLATE_NOOP("ErrorReasons", "[record_store] auth must be none, basic or smart-backend"),
    QT_TRANSLATE_NOOP("ErrorReasons", "[record_store] username is empty or contains ':'"),
    QT_TRANSLATE_NOOP("ErrorReasons", "[record_store] username (the SMART client id) is empty"),
    QT_TRANSLATE_NOOP(
        "ErrorReasons", "SMART backend auth needs exactly one of a private key or a client secret"
    ),
    # sync: why a record was refused or waits (storage/sync)
    QT_TRANSLATE_NOOP("ErrorReasons", "changed on the server by someone else"),
    QT_TRANSLATE_NOOP("ErrorReasons", "the server asked to retry later"),
    QT_TRANSLATE_NOOP("ErrorReasons", "waiting for its encounter to reach the server"),
    QT_TRANSLATE_NOOP("ErrorReasons", "several patients on the record store have this MRN"),
    QT_TRANSLATE_NOOP("ErrorReasons", "a still's annotations were changed elsewhere"),
    QT_TRANSLATE_NOOP("ErrorReasons", "transaction response entries do not match the request"),
    QT_TRANSLATE_NOOP("ErrorReasons", "transaction response entries do not match"),
    QT_TRANSLATE_NOOP("ErrorReasons", "batch response entries do not match the request"),
    QT_TRANSLATE_NOOP("ErrorReasons", "the response's entries do not match the request"),
    QT_TRANSLATE_NOOP("ErrorReasons", "the server's response named no stored resource"),
    QT_TRANSLATE_NOOP("ErrorReasons", "a matching Patient has no id"),
    QT_TRANSLATE_NOOP("ErrorReasons", "the transaction response has no entry"),
    QT_TRANSLATE_NOOP("ErrorReasons", "a still is not on the record store yet"),
    QT_TRANSLATE_NOOP("ErrorReasons", "the note is not on the record store yet"),
    QT_TRANSLATE_NOOP("ErrorReasons", "the visit is not on the record store yet"),
    QT_TRANSLATE_NOOP("ErrorReasons", "the request is not on the record store yet"),
    QT_TRANSLATE_NOOP(
        "ErrorReasons",
        "a still of this request was deleted before it reached the record store, so the request cannot be sent: cancel it and send a new request with the stills that remain",  # noqa: E501
    ),
    QT_TRANSLATE_NOOP("ErrorReasons", "the PACS could not be reached"),
    QT_TRANSLATE_NOOP("ErrorReasons", "the PACS did not confirm the instance"),
    QT_TRANSLATE_NOOP("ErrorReasons", "request"),
    QT_TRANSLATE_NOOP("ErrorReasons", "message"),
    QT_TRANSLATE_NOOP("ErrorReasons", "answer"),
    QT_TRANSLATE_NOOP("ErrorReasons", "status"),
    # sync: why a server resource was set aside (storage/sync/engine.py)
    QT_TRANSLATE_NOOP("ErrorReasons", "meta is missing or not an object"),
    QT_TRANSLATE_NOOP("ErrorReasons", "meta.versionId is missing or not a string"),
    QT_TRANSLATE_NOOP("ErrorReasons", "meta.lastUpdated is not an instant"),
    QT_TRANSLATE_NOOP("ErrorReasons", "content[0].attachment.data is not UTF-8 text"),
    QT_TRANSLATE_NOOP("ErrorReasons", "a search entry is not a resource"),
    QT_TRANSLATE_NOOP("ErrorReasons", "id is missing"),
    QT_TRANSLATE_NOOP("ErrorReasons", "resourceType is not the one searched for"),
    QT_TRANSLATE_NOOP("ErrorReasons", "subject is not the patient this note belongs to"),
    QT_TRANSLATE_NOOP("ErrorReasons", "context.encounter is not this note's visit"),
    QT_TRANSLATE_NOOP("ErrorReasons", "subject is not the patient this visit belongs to"),
    # devices (media/devices, media/steth, plugins)
    QT_TRANSLATE_NOOP("ErrorReasons", "device stopped"),
    QT_TRANSLATE_NOOP("ErrorReasons", "no such device"),
    QT_TRANSLATE_NOOP("ErrorReasons", "no such camera"),
    QT_TRANSLATE_NOOP("ErrorReasons", "no such audio input"),
    QT_TRANSLATE_NOOP("ErrorReasons", "unknown device id"),
    QT_TRANSLATE_NOOP("ErrorReasons", "no PortAudio library"),
    QT_TRANSLATE_NOOP("ErrorReasons", "cannot open input"),
    QT_TRANSLATE_NOOP("ErrorReasons", "cannot open output"),
    QT_TRANSLATE_NOOP("ErrorReasons", "cannot open"),
    QT_TRANSLATE_NOOP("ErrorReasons", "cannot list modes"),
    QT_TRANSLATE_NOOP("ErrorReasons", "capture failed"),
    QT_TRANSLATE_NOOP("ErrorReasons", "camera failed"),
    QT_TRANSLATE_NOOP("ErrorReasons", "the camera stopped"),
    QT_TRANSLATE_NOOP("ErrorReasons", "closed"),
    QT_TRANSLATE_NOOP("ErrorReasons", "corrupt frame"),
    QT_TRANSLATE_NOOP("ErrorReasons", "short frame"),
    QT_TRANSLATE_NOOP("ErrorReasons", "no still frame"),
    QT_TRANSLATE_NOOP("ErrorReasons", "mode not offered"),
    QT_TRANSLATE_NOOP("ErrorReasons", "unsupported size"),
    QT_TRANSLATE_NOOP("ErrorReasons", "unsupported frame rate"),
    QT_TRANSLATE_NOOP("ErrorReasons", "unsupported pixel format"),
    QT_TRANSLATE_NOOP("ErrorReasons", "no supported pixel format"),
    QT_TRANSLATE_NOOP("ErrorReasons", "not a video file"),
    QT_TRANSLATE_NOOP("ErrorReasons", "no audio input"),
    QT_TRANSLATE_NOOP("ErrorReasons", "audio input not granted"),
    QT_TRANSLATE_NOOP("ErrorReasons", "remote stethoscope track is not 48 kHz"),
    QT_TRANSLATE_NOOP("ErrorReasons", "no camera is open"),
    QT_TRANSLATE_NOOP("ErrorReasons", "no still to keep"),
    QT_TRANSLATE_NOOP("ErrorReasons", "no encounter is open"),
    # visit and media server (media/janus, media/visit, app/visit.py)
    QT_TRANSLATE_NOOP("ErrorReasons", "the media server closed the connection"),
    QT_TRANSLATE_NOOP("ErrorReasons", "the media server closed"),
    QT_TRANSLATE_NOOP("ErrorReasons", "the media server did not answer"),
    QT_TRANSLATE_NOOP("ErrorReasons", "the media server's HTTP API does not answer"),
    QT_TRANSLATE_NOOP("ErrorReasons", "the media server connection is closed"),
    QT_TRANSLATE_NOOP("ErrorReasons", "that address is not a Janus HTTP API"),
    QT_TRANSLATE_NOOP(
        "ErrorReasons",
        "the media server URL must start with wss:// or https:// (its WebSocket or HTTP API)",
    ),
    QT_TRANSLATE_NOOP("ErrorReasons", "the media server needs its room admin key to create rooms"),
    QT_TRANSLATE_NOOP("ErrorReasons", "the visit room does not exist"),
    QT_TRANSLATE_NOOP("ErrorReasons", "the media server sent an unusable SDP"),
    QT_TRANSLATE_NOOP("ErrorReasons", "the media server refused the track"),
    QT_TRANSLATE_NOOP("ErrorReasons", "the media server sent no answer"),
    QT_TRANSLATE_NOOP("ErrorReasons", "the remote track ended"),
    QT_TRANSLATE_NOOP("ErrorReasons", "extra tracks are 48 kHz mono"),
    QT_TRANSLATE_NOOP("ErrorReasons", "no visit is running"),
    QT_TRANSLATE_NOOP("ErrorReasons", "relay is required but no TURN server is configured"),
    QT_TRANSLATE_NOOP("ErrorReasons", "loopback peers did not connect"),
    QT_TRANSLATE_NOOP("ErrorReasons", "only the host can admit"),
    QT_TRANSLATE_NOOP("ErrorReasons", "only the host can remove participants"),
    QT_TRANSLATE_NOOP(
        "ErrorReasons", "the invite link's key is damaged: ask the host for a new invite link"
    ),
    QT_TRANSLATE_NOOP(
        "ErrorReasons",
        "joining through the waiting room needs the host's invite link (it carries the key that keeps your name private): paste the link",  # noqa: E501
    ),
    QT_TRANSLATE_NOOP(
        "ErrorReasons",
        "this visit admits through its waiting room: paste the host's invite link (it carries the key that keeps your name private)",  # noqa: E501
    ),
    QT_TRANSLATE_NOOP("ErrorReasons", "no such participant"),
    QT_TRANSLATE_NOOP("ErrorReasons", "that participant is not connected"),
    QT_TRANSLATE_NOOP("ErrorReasons", "several carts have a camera open: choose one"),
    QT_TRANSLATE_NOOP("ErrorReasons", "nobody is connected to ask"),
    QT_TRANSLATE_NOOP("ErrorReasons", "nobody in the visit has an exam camera open"),
    QT_TRANSLATE_NOOP("ErrorReasons", "the far end did not answer (no exam camera?)"),
    QT_TRANSLATE_NOOP("ErrorReasons", "the far end did not send the picture in time"),
    QT_TRANSLATE_NOOP("ErrorReasons", "the transfer stalled"),
    QT_TRANSLATE_NOOP("ErrorReasons", "the visit is not connected"),
    QT_TRANSLATE_NOOP("ErrorReasons", "the visit's data channel did not open"),
    QT_TRANSLATE_NOOP("ErrorReasons", "the connection dropped while sending"),
    QT_TRANSLATE_NOOP("ErrorReasons", "enter the media server's address"),
    QT_TRANSLATE_NOOP("ErrorReasons", "the media server's address is not a valid URL"),
    QT_TRANSLATE_NOOP(
        "ErrorReasons",
        "the media server's address must start with wss://, ws://, https:// or http://",
    ),
    QT_TRANSLATE_NOOP("ErrorReasons", "enter the room number"),
    QT_TRANSLATE_NOOP("ErrorReasons", "the room must be a number"),
    QT_TRANSLATE_NOOP("ErrorReasons", "enter the room PIN"),
    QT_TRANSLATE_NOOP("ErrorReasons", "the room PIN is not valid"),
    QT_TRANSLATE_NOOP("ErrorReasons", "enter your name as others see it"),
    QT_TRANSLATE_NOOP("ErrorReasons", "this is not a visit invite link"),
    QT_TRANSLATE_NOOP(
        "ErrorReasons", "this is not a visit invite link (nothing after the '#' in it)"
    ),
    QT_TRANSLATE_NOOP("ErrorReasons", "the invite link's key is damaged; ask for a new link"),
    # keyring, signing key and sign-in entry (storage/signing.py, storage/identity/vault.py)
    QT_TRANSLATE_NOOP("ErrorReasons", "the system keyring is not available"),
    QT_TRANSLATE_NOOP("ErrorReasons", "the system keyring did not keep the new key"),
    QT_TRANSLATE_NOOP("ErrorReasons", "the signing key in the keyring is damaged"),
    QT_TRANSLATE_NOOP("ErrorReasons", "the keyring did not keep the sign-in"),
    QT_TRANSLATE_NOOP("ErrorReasons", "the offline sign-in entry is damaged"),
    QT_TRANSLATE_NOOP("ErrorReasons", "its keyring entry is damaged"),
    QT_TRANSLATE_NOOP("ErrorReasons", "the PACS bearer token in the keyring is not a b64token"),
    QT_TRANSLATE_NOOP("ErrorReasons", "[pacs] auth must be none, basic or bearer"),
    QT_TRANSLATE_NOOP("ErrorReasons", "[pacs] username is empty or contains ':'"),
    # the encrypted store and its files (storage/database.py, store.py, keys.py, credentials.py)
    QT_TRANSLATE_NOOP("ErrorReasons", "contents unreadable"),
    QT_TRANSLATE_NOOP("ErrorReasons", "the file is empty"),
    QT_TRANSLATE_NOOP("ErrorReasons", "the file is truncated"),
    QT_TRANSLATE_NOOP("ErrorReasons", "the file is missing"),
    QT_TRANSLATE_NOOP("ErrorReasons", "the connection has no cipher"),
    QT_TRANSLATE_NOOP("ErrorReasons", "PRAGMA cipher_version is empty"),
    QT_TRANSLATE_NOOP("ErrorReasons", "key metadata unreadable"),
    QT_TRANSLATE_NOOP("ErrorReasons", "its key metadata file is missing"),
    QT_TRANSLATE_NOOP("ErrorReasons", "it was changed by something other than the console"),
    QT_TRANSLATE_NOOP("ErrorReasons", "it is an older copy than the store"),
    QT_TRANSLATE_NOOP(
        "ErrorReasons", "it says the store is still being created, but the store holds records"
    ),
    QT_TRANSLATE_NOOP("ErrorReasons", "its salt is unreadable"),
    QT_TRANSLATE_NOOP("ErrorReasons", "its key check is implausible"),
    QT_TRANSLATE_NOOP("ErrorReasons", "it is unreadable"),
    QT_TRANSLATE_NOOP("ErrorReasons", "its check does not verify"),
    QT_TRANSLATE_NOOP("ErrorReasons", "it cannot be read"),
    QT_TRANSLATE_NOOP("ErrorReasons", "its check is missing"),
    QT_TRANSLATE_NOOP("ErrorReasons", "its check does not match"),
    QT_TRANSLATE_NOOP("ErrorReasons", "it is not a keyring-mode file"),
    QT_TRANSLATE_NOOP("ErrorReasons", "it is not a passphrase-mode file"),
    QT_TRANSLATE_NOOP("ErrorReasons", "it does not match the store's key mode"),
    QT_TRANSLATE_NOOP("ErrorReasons", "the audit key is not loaded"),
    QT_TRANSLATE_NOOP("ErrorReasons", "an attachment does not match its digest"),
    # a new PIN or passphrase (app/credentials.py)
    QT_TRANSLATE_NOOP("ErrorReasons", "A PIN of one repeated digit is too easy to guess."),
)

#: Reasons with values in them: the English, as a pattern, and its template (%1, %2: the
#: values, in order). The first that matches the whole reason is used.
PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(r"network error \((\w+)\)"),
        QT_TRANSLATE_NOOP("ErrorReasons", "network error (%1)"),
    ),
    (
        re.compile(r"network failure: (\w+)"),
        QT_TRANSLATE_NOOP("ErrorReasons", "network failure: %1"),
    ),
    (
        re.compile(r"unexpected HTTP status (\d+)"),
        QT_TRANSLATE_NOOP("ErrorReasons", "unexpected HTTP status %1"),
    ),
    (
        re.compile(
            r"the server answered with a redirect \(HTTP (\d+)\); check \[record_store\] url"
        ),
        QT_TRANSLATE_NOOP(
            "ErrorReasons",
            "the server answered with a redirect (HTTP %1); check [record_store] url",
        ),
    ),
    (
        re.compile(r"the response is larger than (\d+) MiB"),
        QT_TRANSLATE_NOOP("ErrorReasons", "the response is larger than %1 MiB"),
    ),
    (
        re.compile(r"the media server answered HTTP (\d+)"),
        QT_TRANSLATE_NOOP("ErrorReasons", "the media server answered HTTP %1"),
    ),
    (re.compile(r"cannot open (\S+)"), QT_TRANSLATE_NOOP("ErrorReasons", "cannot open %1")),
    (re.compile(r"no answer to '(\w+)'"), QT_TRANSLATE_NOOP("ErrorReasons", "no answer to '%1'")),
    (
        re.compile(r"camera or microphone unavailable: (.+)"),
        QT_TRANSLATE_NOOP("ErrorReasons", "camera or microphone unavailable: %1"),
    ),
    (
        re.compile(r"the PACS refused the instance \(HTTP (\d+)\)"),
        QT_TRANSLATE_NOOP("ErrorReasons", "the PACS refused the instance (HTTP %1)"),
    ),
    (
        re.compile(r"the PACS refused the request \(HTTP (\d+)\)"),
        QT_TRANSLATE_NOOP("ErrorReasons", "the PACS refused the request (HTTP %1)"),
    ),
    (
        re.compile(r"needs a decision: (.+)"),
        QT_TRANSLATE_NOOP("ErrorReasons", "needs a decision: %1"),
    ),
    (
        re.compile(r"the server's copy is unusable \((.+)\)"),
        QT_TRANSLATE_NOOP("ErrorReasons", "the server's copy is unusable (%1)"),
    ),
    (
        re.compile(r"unexpected structure \((\w+)\)"),
        QT_TRANSLATE_NOOP("ErrorReasons", "unexpected structure (%1)"),
    ),
    (
        re.compile(r"e-consult (\w+) not sent: (.+)"),
        QT_TRANSLATE_NOOP("ErrorReasons", "e-consult %1 not sent: %2"),
    ),
    (re.compile(r"e-consult (\w+): (.+)"), QT_TRANSLATE_NOOP("ErrorReasons", "e-consult %1: %2")),
    (
        re.compile(r"your name as others see it is longer than (\d+) characters"),
        QT_TRANSLATE_NOOP(
            "ErrorReasons", "your name as others see it is longer than %1 characters"
        ),
    ),
    (
        re.compile(r"A PIN needs at least (\d+) digits\."),
        QT_TRANSLATE_NOOP("ErrorReasons", "A PIN needs at least %1 digits."),
    ),
    (
        re.compile(r"A passphrase needs at least (\d+) characters\."),
        QT_TRANSLATE_NOOP("ErrorReasons", "A passphrase needs at least %1 characters."),
    ),
    (
        re.compile(r"sample rate (\d+) Hz is not supported"),
        QT_TRANSLATE_NOOP("ErrorReasons", "sample rate %1 Hz is not supported"),
    ),
)

_KNOWN = frozenset(REASONS)
_ARG = re.compile(r"%(\d)")
_MAX_DEPTH = 4  # nested reasons ("e-consult request: needs a decision: ...")


def reason_text(reason: str, _depth: int = 0) -> str:
    """``reason`` in the user's language when it is a known reason, a known reason with
    values, or a whole app message; otherwise as it is."""
    if not reason or _depth > _MAX_DEPTH:
        return reason
    if reason in _KNOWN:
        return QCoreApplication.translate(CONTEXT, reason)
    for pattern, template in PATTERNS:
        match = pattern.fullmatch(reason)
        if match is not None:
            values = [reason_text(v or "", _depth + 1) for v in match.groups()]
            return _fill(QCoreApplication.translate(CONTEXT, template), values)
    found = _message_of(reason)
    if found is not None:
        from ui import i18n

        key, params = found
        return i18n.message(key, params, _depth=_depth + 1)
    return reason


def _fill(template: str, values: list[str]) -> str:
    """%1, %2... replaced in one pass (a value holding "%2" stays as it is)."""

    def value(m: re.Match[str]) -> str:
        n = int(m.group(1))
        return values[n - 1] if 0 < n <= len(values) else m.group(0)

    return _ARG.sub(value, template)


def translate_params(params: Mapping[str, Any], _depth: int = 0) -> dict[str, Any]:
    """A message's params with its ``reason`` in the user's language."""
    out = dict(params)
    reason = out.get("reason")
    if isinstance(reason, str):
        out["reason"] = reason_text(reason, _depth)
    return out


# --- a whole app message stored as text -------------------------------------------------

#: The message patterns, and how many templates MESSAGES had when they were built.
_templates: dict[str, Any] = {"size": -1, "patterns": []}


def _message_of(text: str) -> tuple[str, dict[str, str]] | None:
    """(message key, params) of an English app message ``text`` was made from."""
    for pattern, key in _message_patterns():
        match = pattern.fullmatch(text)
        if match is not None:
            return key, match.groupdict()
    return None


def _message_patterns() -> list[tuple[re.Pattern[str], str]]:
    """One pattern per app message template (modules add keys when imported: rebuilt
    when MESSAGES grows); the longest literal text first, so the most specific wins."""
    if _templates["size"] == len(MESSAGES):
        patterns: list[tuple[re.Pattern[str], str]] = _templates["patterns"]
        return patterns
    built: list[tuple[int, re.Pattern[str], str]] = []
    for key, template in MESSAGES.items():
        pattern = _template_pattern(template)
        if pattern is not None:
            built.append((pattern[1], pattern[0], key))
    built.sort(key=lambda item: -item[0])
    patterns = [(p, k) for _n, p, k in built]
    _templates.update(size=len(MESSAGES), patterns=patterns)
    return patterns


def _template_pattern(template: str) -> tuple[re.Pattern[str], int] | None:
    """The pattern of a message template and how much literal text it has; None for a
    template that is only placeholders ("{reason}": it would match anything)."""
    parts: list[str] = []
    seen: set[str] = set()
    literal = 0
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError:
        return None
    for text, field, _spec, _conversion in parsed:
        parts.append(re.escape(text))
        literal += len(text.strip())
        if field is None:
            continue
        if not field.isidentifier():
            return None
        if field in seen:
            parts.append(f"(?P={field})")
        else:
            seen.add(field)
            parts.append(f"(?P<{field}>.+?)")
    if literal < 8:
        return None
    return re.compile("".join(parts), re.DOTALL), literal
