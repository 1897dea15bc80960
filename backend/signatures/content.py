"""What a signature covers: the canonical snapshot of a record, its child rows and its photos.

Canonical JSON: keys sorted, no whitespace, UTF-8 (non-ASCII kept as is), datetimes in UTC ISO
8601, geometry as GeoJSON, foreign keys as ids. Left out are the fields that change without the
content changing: the record machinery's bookkeeping (version, updated_at/by, device, locks,
field_versions, client digest) and the lifecycle status the signing itself moves (a survey goes
submitted → signed → closed, an inspection results_complete → signed).

Child rows that matter are included, live rows only, ordered by id:
- survey: its participants (with their photos) and the findings made during it — the problem
  as found (description, place, responsible department), not its follow-up (due date, meeting,
  status, resolution), which the findings' owners keep working on after the survey is signed;
- inspection: its items (with their photos) and each item's rectifications (with their photos);
- meeting: its participants and its decisions (the minutes signed are what was decided).
The record's own photos are listed by SHA-256 (sorted).
"""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import json
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from django.contrib.gis.geos import GEOSGeometry
from django.db import models

from backend.audit.services import canonical_json

VOLATILE_FIELDS = frozenset(
    {
        "version",
        "updated_at",
        "updated_by_id",
        "device_id",
        "is_locked",
        "locked_at",
        "field_versions",
        "client_digest",
    }
)

# Per record type: fields left out besides the volatile ones.
EXCLUDED_FIELDS: dict[str, frozenset[str]] = {
    "survey": frozenset({"status"}),
    "inspection": frozenset({"status"}),
    "finding": frozenset({"status", "resolved_at", "resolution", "due_date", "meeting_ref", "meeting_id"}),
}


def json_value(value: Any) -> Any:
    if isinstance(value, GEOSGeometry):
        return json.loads(value.geojson)
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC)
        return value.isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, decimal.Decimal):
        return str(value)
    return value


def row_snapshot(instance: models.Model, *, record_type: str) -> dict[str, Any]:
    excluded = VOLATILE_FIELDS | EXCLUDED_FIELDS.get(record_type, frozenset())
    return {
        field.attname: json_value(getattr(instance, field.attname))
        for field in instance._meta.concrete_fields
        if field.attname not in excluded
    }


def photo_hashes(*, record_type: str, record_ids: Iterable[Any]) -> dict[str, list[str]]:
    """record id → sorted SHA-256 of its live photos (empty when the evidence app has none)."""
    ids = list(record_ids)
    result: dict[str, list[str]] = {str(record_id): [] for record_id in ids}
    try:
        from backend.evidence.models import Photo
    except ImportError:  # pragma: no cover - evidence is installed with this app
        return result
    rows = Photo.objects.filter(record_type=record_type, record_id__in=ids).values_list("record_id", "blob_id")
    for record_id, sha256 in rows:
        result[str(record_id)].append(sha256)
    for hashes in result.values():
        hashes.sort()
    return result


def _rows(queryset, *, record_type: str, with_photos: bool) -> list[dict[str, Any]]:
    rows = list(queryset.filter(deleted_at__isnull=True).order_by("pk"))
    photos = photo_hashes(record_type=record_type, record_ids=[row.pk for row in rows]) if with_photos else {}
    out = []
    for row in rows:
        snapshot = row_snapshot(row, record_type=record_type)
        if with_photos:
            snapshot["photos"] = photos[str(row.pk)]
        out.append(snapshot)
    return out


def _survey_children(survey) -> dict[str, Any]:
    from backend.surveys.models import Finding, SurveyParticipant

    return {
        "participants": _rows(
            SurveyParticipant.all_objects.filter(survey=survey), record_type="survey_participant", with_photos=True
        ),
        "findings": _rows(Finding.all_objects.filter(survey=survey), record_type="finding", with_photos=False),
    }


def _inspection_children(inspection) -> dict[str, Any]:
    from backend.acceptance.models import InspectionItem, RectificationItem

    items = _rows(
        InspectionItem.all_objects.filter(inspection=inspection), record_type="inspection_item", with_photos=True
    )
    for item in items:
        item["rectifications"] = _rows(
            RectificationItem.all_objects.filter(inspection_item_id=item["id"]),
            record_type="rectification",
            with_photos=True,
        )
    return {"items": items}


def _meeting_children(meeting) -> dict[str, Any]:
    from backend.meetings.models import MeetingDecision, MeetingParticipant

    return {
        "participants": _rows(
            MeetingParticipant.all_objects.filter(meeting=meeting), record_type="meeting_participant", with_photos=False
        ),
        "decisions": _rows(
            MeetingDecision.all_objects.filter(meeting=meeting), record_type="meeting_decision", with_photos=False
        ),
    }


CHILDREN: dict[str, Callable[[Any], dict[str, Any]]] = {
    "survey": _survey_children,
    "inspection": _inspection_children,
    "meeting": _meeting_children,
}


def record_content(*, record_type: str, record: models.Model) -> dict[str, Any]:
    """The signed content of a record, read afresh from the database."""
    fresh = type(record)._base_manager.get(pk=record.pk)
    content: dict[str, Any] = {
        "record_type": record_type,
        "record": row_snapshot(fresh, record_type=record_type),
        "photos": photo_hashes(record_type=record_type, record_ids=[fresh.pk])[str(fresh.pk)],
    }
    children = CHILDREN.get(record_type)
    if children is not None:
        content.update(children(fresh))
    return content


def content_hash_of(content: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(content).encode("utf-8")).hexdigest()


def record_content_hash(*, record_type: str, record: models.Model) -> str:
    return content_hash_of(record_content(record_type=record_type, record=record))


def content_photo_hashes(content: Any) -> list[str]:
    """Every photo SHA-256 a record's content lists, at any depth (record, children,
    grandchildren), sorted and once each: the files whose bytes the signature covers."""
    found: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                if key == "photos" and isinstance(item, list):
                    found.update(sha256 for sha256 in item if isinstance(sha256, str))
                else:
                    walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(content)
    return sorted(found)
