"""The HTTP behaviour every field record shares (API.md, "Field records carry …").

- `POST` with a client `id`: 201 the first time, 200 with the stored record for the same content,
  409 `id_conflict` for other content.
- `GET` detail sends `ETag: "<version>"`; `PATCH`/`PUT` need `If-Match`; stale → 412
  `version_mismatch` with the current record in the body.
- `POST` actions accept `Idempotency-Key` (see `idempotent`).
- Locked records refuse changes with 409 `record_locked`; `POST {id}/reopen` unlocks them.

A viewset names its selector and its services; the services carry every rule, so sync push
calls the very same functions.
"""

import re
import uuid
from collections.abc import Callable
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import MethodNotAllowed
from rest_framework.request import Request
from rest_framework.response import Response

from backend.cases.selectors import cases_visible_to
from backend.common.errors import ApplicationError, VersionMismatch
from backend.records.models import FieldRecord
from backend.records.registry import RECORD_TYPES, RecordType
from backend.records.services import (
    case_visible_memo_key,
    payload_digest,
    record_check_can_reopen,
    record_fresh,
    record_reopen,
    write_memo,
)
from backend.surveys.models import Survey
from backend.surveys.selectors import surveys_visible_to
from mobile_api.records.idempotency import idempotent

_ETAG = re.compile(r'^\s*(?:W/)?"?([0-9]{1,19})"?\s*$')

IF_MATCH = OpenApiParameter(
    "If-Match",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    required=True,
    description='The record\'s ETag, e.g. "3"; `*` changes whatever version is current.',
)
IF_MATCH_OPTIONAL = OpenApiParameter(
    "If-Match",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    required=False,
    description='Optional: the record\'s ETag (e.g. "3"); stale → 412 version_mismatch.',
)
IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    required=False,
    description="Replays return the first response; the same key with another body → 422 idempotency_key_reuse.",
)
X_COORD_SYSTEM = OpenApiParameter(
    "X-Coord-System",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    required=False,
    enum=["wgs84", "cgcs2000", "gcj02"],
    description="Coordinate system of geometry in the request body; stored and returned as WGS84.",
)


def parse_if_match(request: Request) -> int | None:
    """The version an If-Match names; None for `*` ("any current version", RFC 9110 13.1.1)."""
    header = request.headers.get("If-Match")
    if header is None:
        raise ApplicationError(
            'Send If-Match with the record\'s ETag (e.g. If-Match: "3").', code="precondition_required", status=428
        )
    if header.strip() == "*":
        return None
    match = _ETAG.match(header)
    if not match:
        raise ApplicationError(f"If-Match {header!r} is not a record version.", code="invalid_if_match", status=400)
    return int(match.group(1))


def optional_if_match(request: Request) -> int | None:
    """Actions may send If-Match; when they do, a stale version is refused like on PATCH."""
    return parse_if_match(request) if "If-Match" in request.headers else None


def record_response(data: Any, version: int, status_code: int = status.HTTP_200_OK) -> Response:
    """A record's representation with its ETag (the version a following If-Match names)."""
    response = Response(data, status=status_code)
    response["ETag"] = f'"{version}"'
    return response


def device_id_of(request: Request) -> str:
    token = getattr(request, "auth", None)
    return getattr(token, "device_id", "") or request.headers.get("X-Device-Id", "")[:100]


# Record type name → the viewset that serves it over REST; sync push validates with its serializer.
RECORD_VIEWSETS: dict[str, type["FieldRecordViewSet"]] = {}


class FieldRecordViewSet(viewsets.ModelViewSet):
    """Subclasses set `serializer_class`, `selector` and `record_type` (a name in the domain's
    `RECORD_TYPES`), whose `create` / `update` / `delete` services this viewset calls, exactly as
    sync push does. An action the record type declares `None` answers 405.

    - `reopen_service(*, instance, by, reason, device_id) -> record` (optional; default
      `record_reopen` with `reopen_changes(record)`): set it when a reopen also unlocks children.
    - `run_action(request, body_serializer, service, keyword=…)` runs a detail action's
      transition service (`survey_start(survey=…, by=…, device_id=…, expected_version=…, **body)`)
      and renders the record with its ETag.
    """

    record_type: str | None = None
    selector: Callable[..., Any]
    reopen_service: Callable[..., FieldRecord] | None = None
    reopen_changes: Callable[[FieldRecord], dict] | None = None
    http_method_names = ["get", "post", "put", "patch", "delete", "head", "options"]

    def run_action(
        self, request: Request, body_serializer: type | None, service: Callable[..., Any], *, keyword: str
    ) -> Response:
        instance = self.get_object()
        body: dict[str, Any] = {}
        if body_serializer is not None:
            serializer = body_serializer(data=request.data if isinstance(request.data, dict) else {})
            serializer.is_valid(raise_exception=True)
            body = dict(serializer.validated_data)
        record = service(
            **{keyword: instance},
            by=request.user,
            device_id=device_id_of(request),
            expected_version=optional_if_match(request),
            **body,
        )
        return record_response(self.get_serializer(record).data, record.version)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        stray = [name for name in ("create_service", "update_service", "delete_service") if name in vars(cls)]
        if stray:
            # A service set here would serve REST only; the record type's registry entry serves all.
            raise ImproperlyConfigured(
                f"{cls.__qualname__} sets {', '.join(stray)}: declare services in the record type's RecordType."
            )
        name = vars(cls).get("record_type")
        if name is None:
            return
        other = RECORD_VIEWSETS.get(name)
        if other is not None and other.__qualname__ != cls.__qualname__:
            raise ImproperlyConfigured(f"{other.__qualname__} and {cls.__qualname__} both serve {name}.")
        RECORD_VIEWSETS[name] = cls

    @classmethod
    def services(cls) -> RecordType:
        return RECORD_TYPES[cls.record_type]

    def _service(self, action: str, method: str) -> Callable[..., Any]:
        service = type(self).services().service(action)
        if service is None:
            raise MethodNotAllowed(method, detail=f"A {type(self).record_type} cannot be {action}d here.")
        return service

    def get_queryset(self):
        return type(self).selector(user=self.request.user)

    def create_digest(self, request: Request, validated: dict) -> str:
        """What makes two creates with one client id "the same content" (a replay, not a 409)."""
        return payload_digest(request.data if isinstance(request.data, dict) else {})

    def retrieve(self, request: Request, *args, **kwargs) -> Response:
        instance = self.get_object()
        response = Response(self.get_serializer(instance).data)
        response["ETag"] = f'"{instance.version}"'
        return response

    @extend_schema(parameters=[X_COORD_SYSTEM])
    def create(self, request: Request, *args, **kwargs) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        record_id = data.pop("id", None)
        instance, created = self._service("create", "POST")(
            by=request.user,
            device_id=device_id_of(request),
            record_id=record_id,
            digest=self.create_digest(request, data),
            **data,
        )
        response = Response(
            self.get_serializer(instance).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )
        response["ETag"] = f'"{instance.version}"'
        return response

    @extend_schema(parameters=[IF_MATCH, X_COORD_SYSTEM])
    def update(self, request: Request, *args, **kwargs) -> Response:
        partial = kwargs.pop("partial", False)
        instance = self.get_object()
        expected = parse_if_match(request)
        if expected is not None and expected != instance.version:
            raise VersionMismatch(
                f"The record is at version {instance.version}, not {expected}.",
                extra={"current": self.get_serializer(instance).data},
            )
        serializer = self.get_serializer(instance, data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        changes = {k: v for k, v in serializer.validated_data.items() if k != "id"}
        try:
            updated = self._service("update", request.method)(
                instance=instance,
                changes=changes,
                by=request.user,
                device_id=device_id_of(request),
                expected_version=expected,
            )
        except VersionMismatch as error:
            instance.refresh_from_db()
            error.extra = {"current": self.get_serializer(instance).data}
            raise
        response = Response(self.get_serializer(updated).data)
        response["ETag"] = f'"{updated.version}"'
        return response

    @extend_schema(parameters=[IF_MATCH, X_COORD_SYSTEM])
    def partial_update(self, request: Request, *args, **kwargs) -> Response:
        kwargs["partial"] = True
        return self.update(request, *args, **kwargs)

    def destroy(self, request: Request, *args, **kwargs) -> Response:
        delete = self._service("delete", "DELETE")
        instance = self.get_object()
        expected = optional_if_match(request)
        delete(instance=instance, by=request.user, device_id=device_id_of(request), expected_version=expected)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, parameters=[IDEMPOTENCY_KEY])
    @action(detail=True, methods=["post"])
    @idempotent
    def reopen(self, request: Request, pk: str | None = None) -> Response:
        """Unlock a signed record; its signatures are voided. Audited with the reason."""
        instance = self.get_object()
        record_check_can_reopen(user=request.user)  # before any other answer: 403, not 400
        reason = str(request.data.get("reason", "")) if isinstance(request.data, dict) else ""
        if type(self).reopen_service is not None:
            reopened = type(self).reopen_service(
                instance=instance,
                by=request.user,
                reason=reason,
                device_id=device_id_of(request),
            )
        else:
            reopened = record_reopen(
                instance=instance,
                by=request.user,
                reason=reason,
                device_id=device_id_of(request),
                changes=type(self).reopen_changes(instance) if type(self).reopen_changes else None,
            )
        response = Response(self.get_serializer(reopened).data)
        response["ETag"] = f'"{reopened.version}"'
        return response


class RecordSerializerMixin(serializers.Serializer):
    """Adds the shared read-only record fields and lets clients supply `id` on create."""

    id = serializers.UUIDField(required=False)
    version = serializers.IntegerField(read_only=True)
    created_at = serializers.DateTimeField(read_only=True)
    updated_at = serializers.DateTimeField(read_only=True)
    # Null on records the system made (seeded, imported) rather than a user.
    created_by = serializers.UUIDField(source="created_by_id", read_only=True, allow_null=True)
    device_id = serializers.CharField(read_only=True)
    is_locked = serializers.BooleanField(read_only=True)

    RECORD_FIELDS = ["id", "version", "created_at", "updated_at", "created_by", "device_id", "is_locked"]

    def update(self, instance, validated_data):  # pragma: no cover - viewsets call services
        raise NotImplementedError

    def create(self, validated_data):  # pragma: no cover - viewsets call services
        raise NotImplementedError

    def validate_id(self, value):
        if self.instance is not None and value != self.instance.pk:
            raise serializers.ValidationError("id cannot be changed.")
        return value


# Selectors that are exactly "the live records of the cases the user sees" (nothing else
# narrows them), with their model: a record a sync push chunk created and nothing changed since
# is visible when its case is (see visible_queryset_field).
CASE_SCOPED_SELECTORS: dict[Callable[..., Any], type[FieldRecord]] = {surveys_visible_to: Survey}


def visible_queryset_field(selector: Callable[..., Any], **kwargs) -> serializers.PrimaryKeyRelatedField:
    """A related field whose choices are what the requesting user may see.

    Something invisible reads exactly like something that does not exist.
    """

    class VisibleRelatedField(serializers.PrimaryKeyRelatedField):
        def _user(self):
            request = self.context.get("request")
            return getattr(request, "user", None) or self.context.get("user")

        def get_queryset(self):
            return selector(user=self._user())

        def to_internal_value(self, data):
            # In a sync push chunk, a visible case is looked up once for the whole chunk, and a
            # record the chunk created (unchanged since) of a case the user sees not at all.
            memo = write_memo()
            if memo is None or isinstance(data, bool):
                return super().to_internal_value(data)
            try:
                pk = str(uuid.UUID(str(data)))
            except (TypeError, ValueError, AttributeError):
                return super().to_internal_value(data)
            user = self._user()
            if selector is not cases_visible_to:
                model = CASE_SCOPED_SELECTORS.get(selector)
                fresh = record_fresh(model, pk) if model is not None else None
                if fresh is not None and memo.get(case_visible_memo_key(user=user, case_id=fresh.case_id)):
                    return fresh
                return super().to_internal_value(data)
            key = ("visible_case", getattr(user, "pk", None), pk)
            case = memo.get(key)
            if case is None:
                case = super().to_internal_value(data)
                memo.remember(key, case)
                memo.remember(case_visible_memo_key(user=user, case_id=case.pk))
            return case

    return VisibleRelatedField(**kwargs)
