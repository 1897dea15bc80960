from django_filters.rest_framework import DjangoFilterBackend

from backend.sites.selectors import sites_visible_to
from mobile_api.records.views import FieldRecordViewSet
from mobile_api.sites.filters import CheckedInBBoxFilter, SiteFilter
from mobile_api.sites.serializers import SiteSerializer


class SiteViewSet(FieldRecordViewSet):
    """Red lines (红线) of projects. Officials and survey crews of visible cases write; others read.

    Filters: `?case=`, `?project=`, `?in_bbox=min_lon,min_lat,max_lon,max_lat` (overlapping).
    """

    serializer_class = SiteSerializer
    selector = staticmethod(sites_visible_to)
    record_type = "site"
    filter_backends = [DjangoFilterBackend, CheckedInBBoxFilter]
    filterset_class = SiteFilter
    bbox_filter_field = "boundary"
    bbox_filter_include_overlapping = True
