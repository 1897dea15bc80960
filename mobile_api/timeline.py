from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.generics import get_object_or_404
from rest_framework.response import Response
from rest_framework.views import APIView

from backend.cases.selectors import cases_visible_to
from backend.records.timeline import case_timeline_page
from backend.sync.selectors import attachments_missing_by_record
from mobile_api.pagination import LimitOffsetPagination


def _record_status(record) -> str | None:
    for name in ("status", "result"):
        value = getattr(record, name, None)
        if value is not None:
            return str(value)
    return None


def _timestamp(value) -> str:
    """As every REST serializer renders a date-time: in the server's time zone, with its offset."""
    return serializers.DateTimeField().to_representation(value)


class CaseTimelineView(APIView):
    """`GET cases/{id}/timeline/`: every record linked to the case, oldest first."""

    @extend_schema(
        parameters=[OpenApiParameter("limit", int), OpenApiParameter("offset", int)],
        responses=inline_serializer(
            "TimelinePage",
            {
                "count": serializers.IntegerField(),
                "next": serializers.CharField(allow_null=True),
                "previous": serializers.CharField(allow_null=True),
                "results": inline_serializer(
                    "TimelineEntry",
                    {
                        "type": serializers.CharField(),
                        "label": serializers.CharField(),
                        "id": serializers.UUIDField(),
                        "created_at": serializers.DateTimeField(),
                        "updated_at": serializers.DateTimeField(),
                        "version": serializers.IntegerField(),
                        "status": serializers.CharField(allow_null=True),
                        "is_locked": serializers.BooleanField(),
                        "created_by": serializers.UUIDField(allow_null=True),
                        "complete": serializers.BooleanField(),
                        "missing_attachments": serializers.ListField(child=serializers.CharField()),
                    },
                    many=True,
                ),
            },
        ),
    )
    def get(self, request, case_id):
        case = get_object_or_404(cases_visible_to(user=request.user), pk=case_id)
        paginator = LimitOffsetPagination()
        limit = paginator.get_limit(request)
        offset = paginator.get_offset(request)
        total, entries = case_timeline_page(case=case, user=request.user, offset=offset, limit=limit)
        paginator.count, paginator.limit, paginator.offset, paginator.request = total, limit, offset, request
        missing: dict = {}
        for type_name in {entry.type for entry in entries}:
            ids = [entry.record.pk for entry in entries if entry.type == type_name]
            for record_id, hashes in attachments_missing_by_record(
                record_type=type_name, record_ids=ids, user=request.user
            ).items():
                missing[(type_name, record_id)] = hashes
        results = [
            {
                "type": entry.type,
                "label": entry.label,
                "id": str(entry.record.pk),
                "created_at": _timestamp(entry.record.created_at),
                "updated_at": _timestamp(entry.record.updated_at),
                "version": entry.record.version,
                "status": _record_status(entry.record),
                "is_locked": entry.record.is_locked,
                "created_by": str(entry.record.created_by_id) if entry.record.created_by_id else None,
                # Complete once every photo and signature image the device declared has arrived.
                "complete": (entry.type, entry.record.pk) not in missing,
                "missing_attachments": missing.get((entry.type, entry.record.pk), []),
            }
            for entry in entries
        ]
        return Response(
            {
                "count": total,
                "next": paginator.get_next_link(),
                "previous": paginator.get_previous_link(),
                "results": results,
            }
        )
