"""``clinician-console image check|add``: exam-camera stills, headless (docs/images.md).

``image check FILE [--json]`` prints one JSON object::

    {"ok": false, "problems": ["blurred"], "width": 1000, "height": 1000,
     "scores": {"sharpness": 0.66, "brightness": 117.0, ...}}

``problems`` uses the words ``blurred``, ``overexposed``, ``underexposed`` and
``too_small``. The exit status is 0 whatever the verdict (a blurred still is a
finding, not a failure); a file that is not a usable JPEG or PNG, is over 50 MB
or over 100 megapixels exits 1 with a one-line reason on stderr.

``image add FILE --encounter ID [--site CODE] [...] [--json]`` adds the still to
the encounter exactly as a capture does (app/images.py) and prints
``{"image_id": ..., "encounter_id": ..., "sha256": ...}``; on a bad file, an
unknown encounter or a bad site nothing is written.

``image export-dicom --encounter ID --out DIR [--json]`` writes one DICOM VL
Photographic Image per still (storage/dicom/, docs/images.md "DICOM and PACS")
and with ``--json`` prints ``{"encounter_id": ..., "files": [{"image_id",
"sop_instance_uid", "path"}]}``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from app.cli_support import CliContext, Handler, emit, os_account, with_store
from app.errors import ConsoleError, MediaFileError

EXIT_FAILURE = 1


def register(sub: argparse._SubParsersAction[Any]) -> dict[str, Handler]:
    image = sub.add_parser("image", help="exam-camera stills: quality check, add to an encounter")
    image_sub = image.add_subparsers(dest="image_command", required=True)
    check = image_sub.add_parser("check", help="judge a still's focus, exposure and size")
    check.add_argument("file", help="a JPEG or PNG file")
    check.add_argument("--json", action="store_true", help="print one JSON object")
    add = image_sub.add_parser("add", help="add a still to an encounter, as a capture would")
    add.add_argument("file", help="a JPEG or PNG file (at most 50 MB and 100 megapixels)")
    add.add_argument("--encounter", required=True, help="the encounter's id")
    add.add_argument("--site", default=None, help="SNOMED CT body structure code")
    add.add_argument("--laterality", default=None, choices=["left", "right", "bilateral"])
    add.add_argument("--view", default=None, help="view, e.g. close-up, dermoscopic, otoscopic")
    add.add_argument("--title", default="", help="a short title")
    add.add_argument("--json", action="store_true", help="print one JSON object")
    export = image_sub.add_parser(
        "export-dicom", help="write the encounter's stills as DICOM VL Photographic Images"
    )
    export.add_argument("--encounter", required=True, help="the encounter's id")
    export.add_argument("--out", required=True, help="the directory to write the .dcm files to")
    export.add_argument("--json", action="store_true", help="print one JSON object")
    return {"image": _cmd_image}


def _read(path: Path) -> bytes:
    """The file's bytes, refusing anything over the limit before reading it whole."""
    from media.images.quality import MAX_FILE_BYTES

    try:
        with path.open("rb") as fh:
            data = fh.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise MediaFileError(name=path.name, reason="it cannot be read") from exc
    if len(data) > MAX_FILE_BYTES:
        raise MediaFileError(name=path.name, reason="it is larger than 50 MB")
    return data


async def _cmd_image(ctx: CliContext) -> int:
    try:
        if ctx.args.image_command == "check":
            return await _check(ctx)
        if ctx.args.image_command == "export-dicom":
            return await _export_dicom(ctx)
        return await _add(ctx)
    except ConsoleError as exc:
        sys.stderr.write(exc.user_message().splitlines()[0] + "\n")
        return EXIT_FAILURE


async def _check(ctx: CliContext) -> int:
    from media.images.quality import check_bytes

    path = Path(ctx.args.file)
    data = _read(path)
    # Decoding a 12 MP still takes a while: off the loop, as in the GUI.
    _info, report = await asyncio.get_running_loop().run_in_executor(
        None, lambda: check_bytes(data, name=path.name)
    )
    result = report.as_dict()
    if ctx.args.json:
        emit(result)
    elif report.ok:
        sys.stdout.write(f"ok ({report.width_px} x {report.height_px})\n")
    else:
        problems = ", ".join(report.problems)
        sys.stdout.write(f"not ok: {problems} ({report.width_px} x {report.height_px})\n")
    return 0


async def _add(ctx: CliContext) -> int:
    from app.events import ConsoleEvents
    from app.images import ImagesService, StillMetadata
    from app.services import AttachmentsService
    from media.images.inspector import QualityInspector

    path = Path(ctx.args.file)
    data = _read(path)
    metadata = StillMetadata(
        body_site=ctx.args.site,
        laterality=ctx.args.laterality,
        view=ctx.args.view,
        captured_by=os_account(),
    )

    async def add(store: Any) -> int:
        images = ImagesService(AttachmentsService(store, ConsoleEvents()), QualityInspector())
        added = await images.add(
            ctx.args.encounter, data, name=path.name, metadata=metadata, title=ctx.args.title
        )
        result = {
            "image_id": added.image_id,
            "encounter_id": added.encounter_id,
            "sha256": added.sha256,
            "width": added.width_px,
            "height": added.height_px,
            "problems": list(added.problems),
        }
        if ctx.args.json:
            emit(result)
        else:
            sys.stdout.write(f"added image {added.image_id}\n")
        return 0

    return await with_store(ctx, add)


async def _export_dicom(ctx: CliContext) -> int:
    from storage.dicom.export import encounter_dicom, write_files

    async def export(store: Any) -> int:
        files = await store.transact(encounter_dicom, store.actor, ctx.args.encounter)
        paths = write_files(files, Path(ctx.args.out))
        if ctx.args.json:
            emit(
                {
                    "encounter_id": ctx.args.encounter,
                    "files": [
                        {
                            "image_id": f.attachment_id,
                            "sop_instance_uid": f.sop_instance_uid,
                            "path": str(p),
                        }
                        for f, p in zip(files, paths, strict=True)
                    ],
                }
            )
        else:
            sys.stdout.write(f"wrote {len(paths)} DICOM file(s)\n")
        return 0

    return await with_store(ctx, export)
