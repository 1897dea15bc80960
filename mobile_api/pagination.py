from rest_framework.pagination import LimitOffsetPagination as DrfLimitOffsetPagination

from backend.common.errors import ValidationFailed
from mobile_api.parsers import BIGINT_MAX, parse_non_negative_int


class LimitOffsetPagination(DrfLimitOffsetPagination):
    """`{count, next, previous, results}` with `?limit=` (max 1000) and `?offset=`.

    DRF silently falls back to the default for a limit it cannot read; a client that asked for
    `limit=0` or `limit=abc` is told instead. A limit above the maximum is clamped (API.md), an
    offset beyond what PostgreSQL can count is refused rather than passed on to OFFSET.
    """

    default_limit = 100
    max_limit = 1000
    limit_query_description = (
        f"Items per page: an integer from 1; above {max_limit} is clamped to {max_limit}. "
        "Anything else → 400 `invalid_limit`."
    )
    offset_query_description = "Items to skip: a non-negative integer. Anything else → 400 `invalid_offset`."

    def get_limit(self, request) -> int:
        raw = request.query_params.get(self.limit_query_param)
        if raw is None or raw == "":
            return self.default_limit
        if not (raw.isascii() and raw.isdigit()) or not raw.strip("0"):
            raise ValidationFailed(
                f"limit must be an integer from 1 (at most {self.max_limit} are returned).",
                code="invalid_limit",
                errors={self.limit_query_param: ["An integer from 1."]},
            )
        significant = raw.lstrip("0")
        # Any number of digits is still "more than the maximum"; int() of thousands of them raises.
        return self.max_limit if len(significant) > len(str(self.max_limit)) else min(int(significant), self.max_limit)

    def get_offset(self, request) -> int:
        raw = request.query_params.get(self.offset_query_param)
        if raw is None or raw == "":
            return 0
        offset = parse_non_negative_int(raw, maximum=BIGINT_MAX - self.max_limit)
        if offset is None:
            raise ValidationFailed(
                "offset must be a non-negative integer.",
                code="invalid_offset",
                errors={self.offset_query_param: ["A non-negative integer."]},
            )
        return offset

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.limit_query_param:
                parameter["schema"] = {"type": "integer", "minimum": 1, "default": self.default_limit}
            elif parameter["name"] == self.offset_query_param:
                parameter["schema"] = {"type": "integer", "minimum": 0, "default": 0}
        return parameters
