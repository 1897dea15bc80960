from django_filters.rest_framework import DjangoFilterBackend
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from backend.sites.selectors import sites_visible_to
from backend.sites.services import site_create, site_delete, site_update
from mobile_api.records.views import FieldRecordViewSet, device_id_of, parse_if_match
from mobile_api.sites.filters import CheckedInBBoxFilter, SiteFilter
from mobile_api.sites.serializers import SiteSerializer


class SiteViewSet(FieldRecordViewSet):
    """Red lines (红线) of projects. Officials and survey crews of visible cases write; others read.

    Filters: `?case=`, `?project=`, `?in_bbox=min_lon,min_lat,max_lon,max_lat` (overlapping).
    """

    serializer_class = SiteSerializer
    selector = staticmethod(sites_visible_to)
    create_service = staticmethod(site_create)
    update_service = staticmethod(site_update)
    filter_backends = [DjangoFilterBackend, CheckedInBBoxFilter]
    filterset_class = SiteFilter
    bbox_filter_field = "boundary"
    bbox_filter_include_overlapping = True

    def destroy(self, request: Request, *args, **kwargs) -> Response:
        instance = self.get_object()
        expected = parse_if_match(request) if "If-Match" in request.headers else None
        site_delete(instance=instance, by=request.user, device_id=device_id_of(request), expected_version=expected)
        return Response(status=status.HTTP_204_NO_CONTENT)
