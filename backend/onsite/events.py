"""What the approval system hears of on-site work (registered in OnsiteConfig.ready): an intake
accepted in the vehicle, and every decision, with its certificate when it approves. The
approval system takes the decision over and closes the item by its own status update."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from backend.events.catalogue import EventType, RecordChange, action_is, register_event_types
from backend.onsite.models import DecisionOutcome


def _certificate_data(decision: Any) -> dict[str, Any] | None:
    certificate = getattr(decision, "certificate", None)
    if certificate is None:
        return None
    return {
        "id": str(certificate.pk),
        "number": certificate.number,
        "holder": certificate.holder,
        "item_name": certificate.item_name,
        "outcome": certificate.outcome,
        "department": str(certificate.department_id),
        "department_name": certificate.department_name,
        "issued_at": certificate.issued_at.isoformat(),
        "content_hash": certificate.content_hash,
        "key_id": certificate.key_id,
        "server_signature": certificate.server_signature,
        "verify_url": settings.PUBLIC_BASE_URL.rstrip("/") + f"/verify/certificates/{certificate.pk}/",
    }


def _decision_extras(decision: Any) -> dict[str, Any]:
    return {
        "item": str(decision.item_id),
        "department": str(decision.department_id),
        "delegation": str(decision.delegation_id),
        "delegate": str(decision.delegate_id),
        "outcome": decision.outcome,
        "reason": decision.reason,
        "certificate": _certificate_data(decision),
    }


def _approved(change: RecordChange) -> bool:
    return change.action == "create" and change.after.get("outcome") != DecisionOutcome.REFUSE


def register() -> None:
    register_event_types(
        EventType(
            name="onsite_intake.accepted",
            label="现场受理",
            description="An approval item was accepted on site (现场受理) with its materials checklist.",
            record_type="onsite_intake",
            when=action_is("create"),
        ),
        EventType(
            name="onsite_decision.made",
            label="现场审批",
            description="A delegate decided an item on site (approve, approve with tolerance, refuse), with the "
            "certificate an approval issued; the approval system closes the item by its status update.",
            record_type="onsite_decision",
            when=action_is("create"),
            extras=_decision_extras,
        ),
        EventType(
            name="certificate.issued",
            label="现场出证",
            description="An on-site approval issued a certificate (证照): number, holder, item, department, the "
            "server's signature and the public verification link.",
            record_type="onsite_decision",
            when=_approved,
            extras=_decision_extras,
        ),
    )
