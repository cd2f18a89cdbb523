"""Property tests: any text signs and verifies; NFC-equivalent text verifies; any change
to the text, the patient or the note it appends to does not; a header never lets a
name forge a line or end the header early."""

from __future__ import annotations

import asyncio
import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

from app import soap
from app.notes_signing import NoteSignature, SignedContent, canonical_json, verify_signature
from app.templates import (
    HeaderParticipant,
    TelehealthHeader,
    render_header,
    split_header,
    with_header,
)
from tests.signing_support import SIGNER, MemoryKeys

KEYS = MemoryKeys()
_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=300)


def _sign(content: SignedContent) -> NoteSignature:
    payload = canonical_json(content)
    jws, kid, jwk = asyncio.run(KEYS.sign(SIGNER, "2026-12-06T00:00:00.000+00:00", payload))
    return NoteSignature(
        content.note_id,
        "p",
        SIGNER.id,
        SIGNER.display,
        "2026-12-06T00:00:00.000+00:00",
        jws,
        kid,
        jwk,
        "",
        content.appends,
    )


@settings(max_examples=60, deadline=None)
@given(text=_text, other=_text)
def test_any_text_verifies_and_any_change_does_not(text: str, other: str) -> None:
    content = SignedContent("n1", "p1", "e1", "11506-3", text)
    sig = _sign(content)
    assert verify_signature(KEYS, sig, content).ok
    nfd = SignedContent("n1", "p1", "e1", "11506-3", unicodedata.normalize("NFD", text))
    assert verify_signature(KEYS, sig, nfd).ok
    if unicodedata.normalize("NFC", other) != unicodedata.normalize("NFC", text):
        changed = SignedContent("n1", "p1", "e1", "11506-3", other)
        assert not verify_signature(KEYS, sig, changed).ok
    for moved in (
        SignedContent("n1", "p2", "e1", "11506-3", text),
        SignedContent("n1", "p1", "e2", "11506-3", text),
        SignedContent("n1", "p1", "e1", "11488-4", text),
        SignedContent("n1", "p1", "e1", "11506-3", text, appends="n0"),
    ):
        assert not verify_signature(KEYS, sig, moved).ok


@settings(max_examples=80, deadline=None)
@given(name=_text, role=_text, location=_text, problem=_text)
def test_header_fields_cannot_forge_lines(
    name: str, role: str, location: str, problem: str
) -> None:
    header = TelehealthHeader(
        modality="video",
        start="2026-12-06T09:00:00+00:00",
        participants=(HeaderParticipant(name, role),),
        stated_location=location,
        problems=(problem,),
    )
    rendered = render_header(header)
    assert len(rendered.splitlines()) == 8
    note = with_header(soap.template(), header)
    got, body = split_header(note)
    assert got == rendered and soap.parse(body) is not None
