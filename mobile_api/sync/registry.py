"""The sync types: every record type the domain registers (`RECORD_TYPES`) as synced.

Push writes through the record type's own services (`RecordType.create/update/delete`), the very
functions REST and the admin call, so every rule holds whichever way a change arrives. The REST
viewset that names the record type (`record_type = …`) lends its serializer, so an operation's
`data` is parsed exactly as a REST body is, and its selector scopes. A synced type without
such a viewset is a configuration error, not a type silently left out.
"""

import functools
import importlib
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from backend.records.models import FieldRecord
from backend.records.registry import RECORD_TYPES, RecordType
from backend.sync.push import including_tombstones

__all__ = ["SyncType", "including_tombstones", "sync_type_get", "sync_types"]


@dataclass(frozen=True)
class SyncType:
    name: str
    record_type: RecordType
    viewset: type

    @property
    def model(self) -> type[FieldRecord]:
        return self.record_type.model

    def view(self, request: Any, action: str) -> Any:
        """A viewset instance bound to the push/pull request, as the router would make it."""
        view = self.viewset(request=request, format_kwarg=None, args=(), kwargs={}, action=action)
        view.headers = {}
        return view


@functools.cache
def sync_types() -> dict[str, SyncType]:
    from mobile_api.records.views import RECORD_VIEWSETS

    # The viewsets register themselves when defined; the URLconf imports every routed one.
    importlib.import_module(settings.ROOT_URLCONF)
    found = {}
    for name, record_type in RECORD_TYPES.items():
        if not record_type.is_synced:
            continue
        viewset = RECORD_VIEWSETS.get(name)
        if viewset is None:
            raise ImproperlyConfigured(f"The synced record type {name} has no REST viewset naming it (record_type).")
        found[name] = SyncType(name=name, record_type=record_type, viewset=viewset)
    return found


def sync_type_get(name: str) -> SyncType | None:
    return sync_types().get(name)
