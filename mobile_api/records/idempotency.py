"""`Idempotency-Key` on POST actions: a replay returns the first response."""

import functools
import hashlib
import json

from django.db import IntegrityError, transaction
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.encoders import JSONEncoder

from backend.audit.services import canonical_json
from backend.common.errors import ApplicationError
from backend.common.models import IdempotencyKey


def _digest(request: Request) -> str:
    body = request.data if isinstance(request.data, dict) else {}
    return hashlib.sha256(canonical_json({"path": request.path, "body": body}).encode()).hexdigest()


def _replay(record: IdempotencyKey, digest: str) -> Response:
    if record.request_digest != digest:
        raise ApplicationError(
            "This Idempotency-Key was used with another request.", code="idempotency_key_reuse", status=422
        )
    response = Response(record.response_body, status=record.response_status)
    response["Idempotent-Replayed"] = "true"
    return response


def idempotent(view_method):
    """Wrap a DRF action. The key row is inserted first, in the action's transaction, so a
    concurrent retry blocks on it and then replays the committed response."""

    @functools.wraps(view_method)
    def wrapper(self, request: Request, *args, **kwargs):
        key = request.headers.get("Idempotency-Key")
        if not key:
            return view_method(self, request, *args, **kwargs)
        if len(key) > 200:
            raise ApplicationError("Idempotency-Key is longer than 200 characters.", code="invalid_idempotency_key")
        digest = _digest(request)
        existing = IdempotencyKey.objects.filter(user_id=request.user.pk, key=key).first()
        if existing is not None and existing.response_status is not None:
            return _replay(existing, digest)
        try:
            with transaction.atomic():
                record = IdempotencyKey.objects.create(
                    user_id=request.user.pk,
                    key=key,
                    method=request.method,
                    path=request.path[:500],
                    request_digest=digest,
                )
                response = view_method(self, request, *args, **kwargs)
                if response.status_code >= 400:
                    # Failures are not remembered: the client may fix the request and retry.
                    transaction.set_rollback(True)
                    return response
                record.response_status = response.status_code
                # Serializer output holds UUIDs, Decimals and datetimes: store it as the client saw it.
                record.response_body = json.loads(json.dumps(response.data, cls=JSONEncoder))
                record.save(update_fields=["response_status", "response_body"])
                return response
        except IntegrityError:
            existing = IdempotencyKey.objects.filter(user_id=request.user.pk, key=key).first()
            if existing is None or existing.response_status is None:
                raise
            return _replay(existing, digest)

    return wrapper
