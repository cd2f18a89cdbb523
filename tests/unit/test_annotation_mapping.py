"""The annotation layer's FHIR form (storage/fhir/annotation_mapping.py): the rendering
is made from the still's bytes without changing them, stays small enough for every
server, and a server's copy that is malformed is never taken for ours."""

from __future__ import annotations

import base64
import hashlib
import io
import json
from typing import Any

import pytest
from PIL import Image

from app.annotations import AnnotationLayer, Shape, ShapeKind
from app.records import Attachment, AttachmentKind
from storage.fhir import annotation_mapping as am

ARROW = Shape(ShapeKind.ARROW, ((10.0, 10.0), (300.0, 200.0)))
LABEL = Shape(ShapeKind.TEXT, ((350.0, 250.0),), "lesion border")
OUTLINE = Shape(ShapeKind.OUTLINE, ((400.0, 50.0), (600.0, 50.0), (500.0, 150.0)))
LENGTH = Shape(ShapeKind.LENGTH, ((50.0, 500.0), (450.0, 500.0)))


def _noise_jpeg(width: int, height: int) -> bytes:
    """Incompressible content: the worst case for the rendering's size."""
    import numpy as np

    rng = np.random.default_rng(7)
    img = Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))
    out = io.BytesIO()
    img.save(out, "JPEG", quality=95)
    return out.getvalue()


def _still(width: int, height: int, data: bytes) -> Attachment:
    return Attachment(
        id="6d3c2a8e-54a4-4f4b-9f3e-1a2b3c4d5e6f",
        encounter_id="e",
        kind=AttachmentKind.IMAGE,
        content_type="image/jpeg",
        title="",
        created_at="2026-01-01T00:00:00Z",
        size_bytes=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        metadata={"width_px": width, "height_px": height},
    )


def test_rendering_reads_the_still_only_and_stays_small_on_a_12_mp_still() -> None:
    data = _noise_jpeg(4000, 3000)
    original = bytes(data)
    layer = AnnotationLayer("s", 1, (ARROW, LABEL, OUTLINE, LENGTH), "2026-01-01T00:00:00Z", "dr")
    out = am.render(data, layer, 4000, 3000)
    assert data == original
    picture = Image.open(io.BytesIO(out))
    assert picture.format == "JPEG" and max(picture.size) <= am.RENDER_LONG_SIDE
    assert len(out) <= am.RENDER_MAX_BYTES


def test_rendering_works_without_pillows_text_modules() -> None:
    """The bundle leaves out PIL.ImageFont (installers/clinician-console.spec), and
    PIL.ImageDraw imports it: rendering must need neither (run as the bundle would)."""
    import subprocess
    import sys
    from pathlib import Path

    code = (
        "import sys, io\n"
        "sys.modules['PIL.ImageFont'] = None\n"
        "sys.modules['PIL.ImageDraw'] = None\n"
        "from PIL import Image\n"
        "from app.annotations import AnnotationLayer, Shape, ShapeKind\n"
        "from storage.fhir.annotation_mapping import render\n"
        "out = io.BytesIO(); Image.new('RGB', (64, 48)).save(out, 'PNG')\n"
        "shapes = (Shape(ShapeKind.TEXT, ((5.0, 5.0),), 'x'),\n"
        "          Shape(ShapeKind.ARROW, ((1.0, 1.0), (60.0, 40.0))))\n"
        "layer = AnnotationLayer('s', 1, shapes)\n"
        "assert render(out.getvalue(), layer, 64, 48)[:2] == b'\\xff\\xd8'\n"
    )
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr[-2000:]


def test_the_burnt_in_drawing_is_where_the_shapes_are() -> None:
    out = io.BytesIO()
    Image.new("RGB", (640, 600), (30, 60, 90)).save(out, "PNG")
    layer = AnnotationLayer("s", 1, (ARROW, LABEL), "2026-01-01T00:00:00Z", "")
    picture = Image.open(io.BytesIO(am.render(out.getvalue(), layer, 640, 600))).convert("RGB")

    def inked(x: int, y: int) -> bool:
        r, g, _b = picture.getpixel((x, y))
        return r > 150 and g > 150  # the background is (30, 60, 90)

    assert inked(155, 105)  # the arrow's middle
    assert not inked(600, 580)  # untouched background stays as it was
    # The label: a numbered disc at its anchor (its words are in the JSON).
    disc = [inked(x, y) for x in range(335, 366) for y in range(235, 266)]
    assert sum(disc) > 50
    assert not all(disc)  # the dark digit inside


def test_the_document_carries_both_attachments_and_points_at_the_still() -> None:
    data = _noise_jpeg(640, 600)
    still = _still(640, 600, data)
    layer = AnnotationLayer(still.id, 2, (ARROW, LENGTH), "2026-01-01T00:00:00Z", "Dr Who")
    shapes_json = am.shapes_document(layer, still, 0.1)
    resource = am.annotation_resource(
        layer=layer,
        still=still,
        rendering=am.render(data, layer, 640, 600),
        shapes_json=shapes_json,
        patient_server_id="p1",
        encounter_server_id="e1",
        media_server_id="m1",
    )
    assert resource["context"]["related"] == [{"reference": "Media/m1"}]
    assert resource["identifier"][0]["value"] == f"urn:uuid:{am.document_id(still.id)}"
    assert am.document_id(still.id) != still.id
    doc = json.loads(base64.b64decode(resource["content"][1]["attachment"]["data"]))
    assert doc["still"]["sha256"] == still.sha256
    assert doc["shapes"][1]["length"] == pytest.approx(40.0) and doc["shapes"][1]["unit"] == "mm"
    assert am.parse_shapes(shapes_json) == (ARROW, LENGTH)
    assert am.digest_of(resource) == am.shapes_digest((ARROW, LENGTH))


@pytest.mark.parametrize(
    "resource",
    [
        None,
        {},
        {"content": "x"},
        {"content": [{"attachment": {"contentType": "application/json", "data": "%%%"}}]},
        {"content": [{"attachment": {"contentType": "application/json", "data": 5}}]},
        {
            "content": [
                {
                    "attachment": {
                        "contentType": "application/json",
                        "data": base64.b64encode(b"[1,2]").decode(),
                    }
                }
            ]
        },
        {
            "content": [
                {
                    "attachment": {
                        "contentType": "application/json",
                        "data": base64.b64encode(
                            json.dumps(
                                {"format": am.SHAPES_FORMAT, "shapes": [{"kind": "blob"}]}
                            ).encode()
                        ).decode(),
                    }
                }
            ]
        },
        {
            "content": [
                {
                    "attachment": {
                        "contentType": "application/json",
                        "data": base64.b64encode(b"[" * 5000).decode(),
                    }
                }
            ]
        },
    ],
)
def test_a_malformed_server_copy_has_no_digest(resource: Any) -> None:
    """None: never equal to what we sent, so it is a conflict, never adopted or overwritten."""
    assert am.digest_of(resource) is None
