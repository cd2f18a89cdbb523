"""``clinician-console note sign|addendum|verify``: signing notes without the GUI.

- ``note sign NOTE_ID [--json]`` signs a draft with the clinician's key;
- ``note addendum NOTE_ID --text-file FILE [--json]`` appends a signed addendum to a
  signed note (FILE is UTF-8 text; ``-`` reads standard input);
- ``note verify NOTE_ID [--json]`` checks the note's signature and its addenda's.

``sign`` and ``addendum`` print ``{"note_id", "status", "provenance_id", "signed_at",
"signer"}`` (``appends`` too for an addendum); ``status`` is ``signed``, or
``already_signed`` when ``sign`` finds the note signed (a retry is harmless). The
signer is the practitioner in ``[record_store] practitioner``, else the OS account
(app.notes_signing.signer_from_settings). Failures exit 1 with a one-line reason.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from app.cli_support import CliContext, Handler, emit, with_store
from app.errors import CommandError

EXIT_FAILURE = 1
MAX_TEXT_FILE_BYTES = 1_000_000


def register(sub: argparse._SubParsersAction[Any]) -> dict[str, Handler]:
    note = sub.add_parser("note", help="sign notes, add signed addenda, verify signatures")
    note_sub = note.add_subparsers(dest="note_command", required=True)
    sign = note_sub.add_parser("sign", help="sign a draft note (it becomes final)")
    sign.add_argument("note_id")
    sign.add_argument("--json", action="store_true", help="print one JSON object")
    addendum = note_sub.add_parser("addendum", help="append a signed addendum to a signed note")
    addendum.add_argument("note_id")
    addendum.add_argument(
        "--text-file", required=True, help="UTF-8 text of the addendum ('-': standard input)"
    )
    addendum.add_argument("--json", action="store_true", help="print one JSON object")
    verify = note_sub.add_parser("verify", help="check a note's signature and its addenda's")
    verify.add_argument("note_id")
    verify.add_argument(
        "--record-store",
        action="store_true",
        help="verify the note as the record store holds it (DocumentReference and Provenance), "
        "without this console's store: what another console sees",
    )
    verify.add_argument("--json", action="store_true", help="print one JSON object")
    return {"note": _cmd_note}


async def _verify_on_record_store(ctx: CliContext) -> int:
    from storage.fhir.provenance import find_document, verify_from_fhir
    from storage.signing import KeyringSigningKeys
    from storage.sync.adapter import open_client

    settings = ctx.settings().settings.record_store
    if not settings.url:
        raise CommandError(reason="no record store is configured ([record_store] url)")
    async with open_client(settings) as client:
        server_id = await find_document(client, ctx.args.note_id)
        if server_id is None:
            raise CommandError(reason="the record store holds no note with this id")
        result = await verify_from_fhir(client, KeyringSigningKeys(), server_id)
    if ctx.args.json:
        emit({**result.as_dict(), "all_ok": result.all_ok, "document_reference": server_id})
    else:
        state = "valid" if result.ok else f"NOT valid: {result.reason}"
        sys.stdout.write(f"{result.note_id}: {state} (signer {result.signer or '-'})\n")
    return 0 if result.ok else EXIT_FAILURE


def _read_text(name: str) -> str:
    try:
        raw = sys.stdin.buffer.read(MAX_TEXT_FILE_BYTES + 1) if name == "-" else None
        if raw is None:
            path = Path(name)
            if path.stat().st_size > MAX_TEXT_FILE_BYTES:
                raise CommandError(reason=f"the text file is over {MAX_TEXT_FILE_BYTES:,} bytes")
            raw = path.read_bytes()
    except OSError as exc:
        raise CommandError(reason=f"cannot read the text file ({exc.strerror})") from None
    if len(raw) > MAX_TEXT_FILE_BYTES:
        raise CommandError(reason=f"the text is over {MAX_TEXT_FILE_BYTES:,} bytes")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise CommandError(reason="the text file is not UTF-8") from None


async def _cmd_note(ctx: CliContext) -> int:
    from app.notes_signing import NoteSigning, signer_from_settings
    from storage.signatures import StoreSignatures
    from storage.signing import KeyringSigningKeys

    args = ctx.args
    text = _read_text(args.text_file) if args.note_command == "addendum" else None
    practitioner = ctx.settings().settings.record_store.practitioner
    if args.note_command == "verify" and args.record_store:
        return await _verify_on_record_store(ctx)

    async def run(store: Any) -> int:
        use = NoteSigning(
            StoreSignatures(store), KeyringSigningKeys(), lambda: signer_from_settings(practitioner)
        )
        if args.note_command == "verify":
            result = await use.verify(args.note_id)
            if args.json:
                emit({**result.as_dict(), "all_ok": result.all_ok})
            else:
                for r in (result, *result.addenda):
                    state = "valid" if r.ok else f"NOT valid: {r.reason}"
                    sys.stdout.write(f"{r.note_id}: {state} (signer {r.signer or '-'})\n")
            return 0 if result.all_ok else EXIT_FAILURE
        if args.note_command == "sign":
            signed = await use.sign(args.note_id)
        else:
            assert text is not None
            signed = await use.add_addendum(args.note_id, text)
        if args.json:
            emit(signed.as_dict())
        else:
            sys.stdout.write(f"{signed.note_id}: {signed.status} by {signed.signer}\n")
        return 0

    return await with_store(ctx, run)
