"""The worklist's "Documents without a visit" group (issue 14, interop), on a real store."""

from __future__ import annotations

from PySide6.QtCore import Qt

from tests.fhir_interop import synthea_style_bundle
from tests.ui.conftest import Aio
from ui.worklist import documents_title


def test_imported_documents_without_visit_are_grouped_under_the_patient(
    aio: Aio, make_console, qtbot
) -> None:
    console = make_console()
    window = console.window
    visits_before = len(window.worklist.summaries())
    bundle, _ = synthea_style_bundle("Documentsonly")
    aio.run(console.notes.import_bundle(bundle))  # the worklist reloads on the event
    aio.wait_until(window.worklist.document_groups, timeout=5)
    assert len(window.worklist.summaries()) == visits_before + 1
    (group,) = window.worklist.document_groups()
    assert group.patient.family_name == "Documentsonly"
    assert sorted(d.document_type.label for d in group.documents) == [
        "Discharge letter",
        "Evaluation + Plan note",
        "Referral note",
        "Tel",
    ]
    row = window.worklist.list.count() - 1
    item = window.worklist.list.item(row)
    spoken = item.data(Qt.ItemDataRole.AccessibleTextRole)
    assert documents_title() in spoken and "Referral note" in spoken
    with qtbot.waitSignal(window.worklist.documents_selected, timeout=2000) as blocker:
        window.worklist.list.setCurrentRow(row)
    assert blocker.args[0].patient.id == group.patient.id
    assert window.worklist.current_summary() is None
    # Visits still select as before, and a reload keeps the group.
    assert window.worklist.select_encounter(window.worklist.summaries()[0].encounter.id)
    aio.run(window.worklist.reload())
    assert len(window.worklist.document_groups()) == 1
    window.grab()  # paints every row, the group's included, without error
