import math

import django_filters
from django.contrib.gis.geos import Polygon
from rest_framework.exceptions import ValidationError
from rest_framework_gis.filters import InBBoxFilter

from backend.sites.models import Site


class SiteFilter(django_filters.FilterSet):
    # By id, without checking that the case exists: an invisible case reads like an unknown one.
    case = django_filters.UUIDFilter(field_name="case_id")
    project = django_filters.UUIDFilter(field_name="project_id")

    class Meta:
        model = Site
        fields = ["case", "project"]


class CheckedInBBoxFilter(InBBoxFilter):
    """`?in_bbox=min_lon,min_lat,max_lon,max_lat` (WGS84); a malformed box is a 400, not a 500."""

    def get_filter_bbox(self, request):
        bbox_string = request.query_params.get(self.bbox_param)
        if not bbox_string:
            return None
        try:
            min_lon, min_lat, max_lon, max_lat = (float(part) for part in bbox_string.split(","))
        except ValueError as error:
            raise ValidationError({self.bbox_param: ["Give four numbers: min_lon,min_lat,max_lon,max_lat."]}) from error
        if not all(math.isfinite(v) for v in (min_lon, min_lat, max_lon, max_lat)):
            raise ValidationError({self.bbox_param: ["Coordinates must be finite numbers."]})
        if not (-180 <= min_lon <= max_lon <= 180 and -90 <= min_lat <= max_lat <= 90):
            raise ValidationError(
                {self.bbox_param: ["Need -180 ≤ min_lon ≤ max_lon ≤ 180 and -90 ≤ min_lat ≤ max_lat ≤ 90."]}
            )
        return Polygon.from_bbox((min_lon, min_lat, max_lon, max_lat))
