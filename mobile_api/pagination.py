from rest_framework.pagination import LimitOffsetPagination as DrfLimitOffsetPagination


class LimitOffsetPagination(DrfLimitOffsetPagination):
    """`{count, next, previous, results}` with `?limit=` (max 1000) and `?offset=`."""

    default_limit = 100
    max_limit = 1000
