"""Which REST viewset serves each sync type.

Push and pull go through the record type's own REST viewset: its serializer validates (with
the same context), its selector scopes, its create/update services apply every rule. A type
whose app is not (yet) installed, or whose viewset does not follow the field-record contract,
is reported as unsupported instead of being half supported.
"""

import functools
import importlib
import logging
from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet
from django.db.models.lookups import IsNull
from django.db.models.sql.where import AND

from backend.common.records import RECORD_TYPES, FieldRecord

logger = logging.getLogger(__name__)

# The types of the client contract (API.md, "Sync"), plus the vehicle's scanned materials.
SYNC_TYPE_NAMES = (
    "site",
    "survey",
    "survey_participant",
    "finding",
    "utility_request",
    "utility_point",
    "inspection",
    "inspection_item",
    "rectification",
    "visit",
    "photo",
    "signature",
    "material_scan",
)

# Areas whose `mobile_api.<area>.views` may hold record viewsets.
_AREAS = ("sites", "surveys", "utilities", "acceptance", "visits", "evidence", "sync")


@dataclass(frozen=True)
class SyncType:
    name: str
    model: type[FieldRecord]
    viewset: type

    def view(self, request: Any, action: str) -> Any:
        """A viewset instance bound to the push/pull request, as the router would make it."""
        view = self.viewset(request=request, format_kwarg=None, args=(), kwargs={}, action=action)
        view.headers = {}
        return view


def _all_subclasses(cls: type) -> list[type]:
    out = []
    for sub in cls.__subclasses__():
        out.append(sub)
        out.extend(_all_subclasses(sub))
    return out


def _model_of(viewset: type) -> type | None:
    serializer = getattr(viewset, "serializer_class", None)
    meta = getattr(serializer, "Meta", None)
    return getattr(meta, "model", None)


def _follows_contract(viewset: type) -> bool:
    """A selector and an update service; `create_service` may be missing (records created only
    with their parent, e.g. inspection items): creating those is refused per operation."""
    return all(callable(getattr(viewset, name, None)) for name in ("selector", "update_service"))


@functools.cache
def sync_types() -> dict[str, SyncType]:
    from mobile_api.records.views import FieldRecordViewSet

    for area in _AREAS:
        try:
            importlib.import_module(f"mobile_api.{area}.views")
        except ImportError:
            logger.info("sync: mobile_api.%s.views is not there; its types are unsupported", area)
    by_model: dict[type, type] = {}
    for viewset in _all_subclasses(FieldRecordViewSet):
        model = _model_of(viewset)
        if model is not None and _follows_contract(viewset):
            # The most derived viewset wins (subclasses come after their parents).
            by_model[model] = viewset
    found = {}
    for name in SYNC_TYPE_NAMES:
        record_type = RECORD_TYPES.get(name)
        if record_type is None or record_type.model not in by_model:
            continue
        found[name] = SyncType(name=name, model=record_type.model, viewset=by_model[record_type.model])
    return found


def sync_type_get(name: str) -> SyncType | None:
    types = sync_types()
    if name not in types and name in SYNC_TYPE_NAMES:
        # An app that was not importable at first may be now (e.g. during development).
        sync_types.cache_clear()
        types = sync_types()
    return types.get(name)


def including_tombstones(queryset: QuerySet) -> QuerySet:
    """The same scoping, but with deleted records too (devices must learn of deletions).

    Record selectors start from the live-rows manager, which adds `deleted_at IS NULL` to the
    top-level AND of the query; dropping exactly that condition keeps every scoping rule.
    """
    queryset = queryset._chain()
    where = queryset.query.where
    if where.connector != AND or where.negated:
        return queryset
    base_table = queryset.query.get_initial_alias()
    where.children = [
        child
        for child in where.children
        if not (
            isinstance(child, IsNull)
            and child.rhs is True
            and getattr(getattr(child.lhs, "target", None), "name", None) == "deleted_at"
            and getattr(child.lhs, "alias", None) == base_table
        )
    ]
    return queryset
