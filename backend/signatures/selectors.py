"""Reads of signatures: a signature is visible exactly when the record it signs is."""

from functools import reduce
from operator import or_
from typing import Any

from django.db.models import Q, QuerySet

from backend.records.registry import RECORD_TYPES
from backend.signatures.models import Signature, SignatureStatus

NOT_SIGNABLE = frozenset({"signature"})


def signatures_visible_to(*, user: Any) -> QuerySet[Signature]:
    conditions = [
        Q(record_type=name, record_id__in=registered.visible_to(user=user).values("pk"))
        for name, registered in RECORD_TYPES.items()
        if name not in NOT_SIGNABLE
    ]
    if not conditions:
        return Signature.objects.none()
    return Signature.objects.filter(reduce(or_, conditions)).select_related("department", "signer_organization")


def signatures_of_record(*, record_type: str, record_id: Any, valid_only: bool = False) -> QuerySet[Signature]:
    """Every signature of one record (unscoped: callers have checked the record is visible)."""
    qs = Signature.objects.filter(record_type=record_type, record_id=record_id).select_related(
        "department", "signer_organization", "image"
    )
    if valid_only:
        qs = qs.filter(status=SignatureStatus.VALID)
    return qs.order_by("signed_at", "id")
