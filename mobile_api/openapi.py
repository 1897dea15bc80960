"""How the OpenAPI document is generated: every operation's error answers, derived in one place.

An operation's problem+json answers follow from what the view does, so they are derived from the
view and the operation drf-spectacular built for it, not declared on each of the ~170 operations:

- 400 when it reads input (a body, query or header parameters); 415 and 413 when it has a body
  (DRF refuses other media types; Django refuses bodies over `DATA_UPLOAD_MAX_MEMORY_SIZE`);
- 401 when it accepts credentials (a bad token is refused even where anonymous access is allowed),
  403 when it needs them, 429 when it is throttled;
- 404 on routes with path parameters;
- 409 on field-record writes (client `id` reuse: `id_conflict`; signed records: `record_locked`),
  on actions of a record (state rules) and on deletes (`in_use`, rules of what may go);
- 412 where `If-Match` is read, 428 where it is required, 422 where `Idempotency-Key` is read;
- and a record create's 200: the replay of a create with the same client `id` and content.

An answer a view declares itself (e.g. a 409 with its own body) is kept as declared.
"""

from typing import Any

from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.generators import EndpointEnumerator, SchemaGenerator
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import build_choice_field
from rest_framework import serializers
from rest_framework.views import APIView

from mobile_api.exceptions import PROBLEM_CONTENT_TYPE, ProblemSerializer

# Status → what it means here and the stable codes clients switch on.
PROBLEMS = {
    400: "Invalid input: `validation_error` (with `errors`), `malformed_request`, `invalid_geometry`, …",
    401: "`not_authenticated` or `authentication_failed` (a missing, wrong, expired or revoked credential).",
    403: "`permission_denied`: the caller may not do this.",
    404: "`not_found`: nothing is here, or nothing the caller may see.",
    409: "`id_conflict` (a client `id` reused with other content), `record_locked` (signed off), "
    "or the code of the state rule that refused it (e.g. `illegal_transition`).",
    412: "`version_mismatch`: `If-Match` names another version; `current` holds the record as it is.",
    413: "`payload_too_large`: the request or the file is larger than allowed.",
    415: "`unsupported_media_type`: send one of the documented request content types.",
    422: "`idempotency_key_reuse`: this `Idempotency-Key` was used with another request.",
    428: '`precondition_required`: send `If-Match` with the record\'s ETag (e.g. `"3"`) or `*`.',
    429: "`throttled`: retry after `Retry-After` seconds (also `retry_after` in the body).",
    503: "`query_timeout`: the database took longer than the server's statement timeout "
    "(`DATABASE_STATEMENT_TIMEOUT_MS`); retry after `Retry-After` seconds.",
}
TUS_PROBLEMS = {
    "PATCH": {
        409: "`offset_mismatch` (Upload-Offset is not where the upload is) or `upload_complete`.",
        410: "`upload_expired` or `upload_failed`: start a new upload.",
        413: "`upload_length_exceeded`: the bytes would pass the declared Upload-Length.",
        460: "`checksum_mismatch` (this chunk) or `sha256_mismatch` (the whole file); nothing is kept.",
    },
    "DELETE": {409: "`upload_in_use`: a record uses this upload."},
}
TUS_VERSION_PROBLEM = "`tus_version_unsupported`: send `Tus-Resumable: 1.0.0`."
RETRY_AFTER = {"Retry-After": {"schema": {"type": "integer", "minimum": 1}, "description": "Seconds to wait."}}
CRUD_ACTIONS = {"list", "retrieve", "create", "update", "partial_update", "destroy"}
BODILESS_METHODS = {"HEAD", "OPTIONS"}


class ProblemAutoSchema(AutoSchema):
    """drf-spectacular's AutoSchema plus the problem+json answers each operation can give."""

    method_mapping = {**AutoSchema.method_mapping, "head": "head", "options": "discover"}

    def get_operation(self, path, path_regex, path_prefix, method, registry):
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return None
        problem = self.resolve_serializer(ProblemSerializer, "response").ref
        responses = operation["responses"]
        if self._is_record_view() and getattr(self.view, "action", None) == "create" and "201" in responses:
            # Exactly-once by client id: the same id and content again answers the stored record.
            responses.setdefault(
                "200", {**responses["201"], "description": "A replay (same `id`, same content): the stored record."}
            )
        for code, response in responses.items():
            # A view may declare a problem with only its description; its body is a Problem.
            if code >= "400" and "content" not in response and self.method not in BODILESS_METHODS:
                response["content"] = {PROBLEM_CONTENT_TYPE: {"schema": problem}}
            # Every error is rendered by the problem handler, whatever media type a view declared it with.
            elif code >= "400" and "content" in response and PROBLEM_CONTENT_TYPE not in response["content"]:
                response["content"] = {PROBLEM_CONTENT_TYPE: {"schema": problem}}
        for status, description in sorted(self.problems(operation).items()):
            if str(status) in responses:
                continue
            response: dict[str, Any] = {"description": description}
            if self.method not in BODILESS_METHODS:
                response["content"] = {PROBLEM_CONTENT_TYPE: {"schema": problem}}
            if status in (429, 503):
                response["headers"] = RETRY_AFTER
            responses[str(status)] = response
        return operation

    def get_override_parameters(self):
        parameters = super().get_override_parameters()
        # Every record's DELETE reads an optional If-Match (the base contract), whichever view
        # implements it.
        if self._is_record_view() and self.method == "DELETE":
            from mobile_api.records.views import IF_MATCH_OPTIONAL

            parameters = [*parameters, IF_MATCH_OPTIONAL]
        return parameters

    def get_operation_id(self) -> str:
        operation_id = super().get_operation_id()
        # The collection and each upload both answer OPTIONS; tell them apart like list/retrieve.
        if self.method == "OPTIONS" and "{" in self.path:
            operation_id += "_detail"
        return operation_id

    def problems(self, operation: dict[str, Any]) -> dict[int, str]:
        """The problem+json answers this operation can give, with what each means here."""
        parameters = operation.get("parameters", [])
        headers = {p["name"].lower(): p for p in parameters if p["in"] == "header"}
        has_body = "requestBody" in operation
        security = operation.get("security", [])
        # Any operation may outrun the statement timeout a deployment sets (the database answers all).
        statuses: set[int] = {503}
        if has_body or any(p["in"] != "path" for p in parameters):
            statuses.add(400)
        if has_body or "upload-length" in headers:
            statuses.add(413)
        if has_body:
            statuses.add(415)
        if any(requirement for requirement in security):
            statuses.add(401)
            if {} not in security:
                statuses.add(403)
        if self.view.get_throttles():
            statuses.add(429)
        if any(p["in"] == "path" for p in parameters):
            statuses.add(404)
        if self._is_record_write() or self._is_detail_action() or self.method == "DELETE":
            statuses.add(409)
        if "if-match" in headers:
            statuses.add(412)
            if headers["if-match"].get("required"):
                statuses.add(428)
        if "idempotency-key" in headers:
            statuses.add(422)
        problems = {status: PROBLEMS[status] for status in statuses}
        if "tus-resumable" in headers:
            problems[412] = TUS_VERSION_PROBLEM
            problems.update(TUS_PROBLEMS.get(self.method, {}))
        return problems

    def _is_record_view(self) -> bool:
        # Not at the top: `extend_schema` on the views loads this module (DEFAULT_SCHEMA_CLASS)
        # while they are being defined.
        from mobile_api.records.views import FieldRecordViewSet

        return isinstance(self.view, FieldRecordViewSet)

    def _is_record_write(self) -> bool:
        return self._is_record_view() and self.method in {"POST", "PUT", "PATCH", "DELETE"}

    def _is_detail_action(self) -> bool:
        action = getattr(self.view, "action", None)
        return self.method == "POST" and action is not None and action not in CRUD_ACTIONS and "{" in self.path

    def _get_pagination_parameters(self):
        parameters = super()._get_pagination_parameters()
        paginator = self._get_paginator()
        for parameter in parameters:
            name = parameter["name"]
            if name == getattr(paginator, "limit_query_param", None):
                # 0, negatives and non-integers are refused with 400; above the maximum is clamped.
                parameter["schema"] = {**parameter["schema"], "minimum": 1}
                if getattr(paginator, "max_limit", None):
                    parameter["schema"]["maximum"] = paginator.max_limit
            elif name == getattr(paginator, "offset_query_param", None):
                parameter["schema"] = {**parameter["schema"], "minimum": 0}
        return parameters


class _Endpoints(EndpointEnumerator):
    """drf-spectacular leaves out HEAD and OPTIONS; keep them where a view answers them itself
    (tus: HEAD is how a client resumes, OPTIONS how it discovers the server's capabilities)."""

    def get_allowed_methods(self, callback):
        methods = super().get_allowed_methods(callback)
        if hasattr(callback, "actions"):
            return methods
        for method in ("head", "options"):
            handler = getattr(callback.cls, method, None)
            if handler is not None and handler is not getattr(APIView, method, None):
                methods.append(method.upper())
        return methods


class ProblemSchemaGenerator(SchemaGenerator):
    endpoint_inspector_cls = _Endpoints


class InputLimitedChoiceField(serializers.ChoiceField):
    """A choice the server may answer with any of `choices`, but a client may set only to one of
    `input_choices` (e.g. an inspection item's `result` is `pending` until someone records one)."""

    def __init__(self, *, choices, input_choices, **kwargs):
        self.output_choices = list(choices)
        super().__init__(choices=input_choices, **kwargs)


class InputLimitedChoiceFieldExtension(OpenApiSerializerFieldExtension):
    target_class = InputLimitedChoiceField

    def map_serializer_field(self, auto_schema, direction):
        field = self.target
        if direction == "response":
            field = serializers.ChoiceField(choices=self.target.output_choices, allow_null=self.target.allow_null)
        return build_choice_field(field)
