"""How an inspection is signed (registered with the signatures app in AcceptanceConfig.ready).

The departments of its items sign once every item has its final result; when all have, the
inspection becomes signed and locks. The signed content includes the items (with their photos)
and each item's rectifications (with their photos).
"""

from __future__ import annotations

from typing import Any

from backend.acceptance.models import Inspection, InspectionItem, InspectionStatus, RectificationItem
from backend.common.errors import Conflict
from backend.signatures.content import content_rows
from backend.signatures.signable import Signable, Slots


def _signers(inspection: Inspection) -> Slots:
    required = set(InspectionItem.objects.filter(inspection_id=inspection.pk).values_list("department_id", flat=True))
    return set(required), required


def _check_ready(inspection: Inspection) -> None:
    from backend.acceptance.services import inspection_computed_status

    if inspection.status != InspectionStatus.SIGNED and (
        inspection_computed_status(inspection=inspection) != InspectionStatus.RESULTS_COMPLETE
    ):
        raise Conflict(
            "Every item of the inspection needs its final result before it is signed.",
            code="not_ready_for_signing",
            extra={"status": inspection.status},
        )


def _on_signed(*, record: Inspection, by: Any, device_id: str, required: set, signed: set) -> None:
    from backend.acceptance.services import inspection_mark_signed

    if required:
        inspection_mark_signed(inspection=record, by=by, device_id=device_id)


def _children(inspection: Inspection) -> dict[str, Any]:
    items = content_rows(
        InspectionItem.all_objects.filter(inspection=inspection), record_type="inspection_item", with_photos=True
    )
    for item in items:
        item["rectifications"] = content_rows(
            RectificationItem.all_objects.filter(inspection_item_id=item["id"]),
            record_type="rectification",
            with_photos=True,
        )
    return {"items": items}


INSPECTION_SIGNABLE = Signable(
    signers=_signers,
    check_ready=_check_ready,
    on_signed=_on_signed,
    children=_children,
    excluded_fields=frozenset({"status"}),
)
