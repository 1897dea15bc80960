from rest_framework import serializers

from backend.cases.selectors import cases_visible_to, projects_visible_to
from backend.common.geometry import POLYGONAL
from backend.sites.models import Site
from mobile_api.geometry import GeometryInputField
from mobile_api.records.views import RecordSerializerMixin, visible_queryset_field


class SiteSerializer(RecordSerializerMixin, serializers.ModelSerializer):
    """A red line (红线): `case` decides the project; give `project` alone for a site without a case yet."""

    project = visible_queryset_field(projects_visible_to, required=False)
    case = visible_queryset_field(cases_visible_to, required=False, allow_null=True)
    boundary = GeometryInputField(allowed_types=POLYGONAL)
    area_m2 = serializers.FloatField(read_only=True, help_text="Geodesic area on the WGS84 spheroid, m².")

    class Meta:
        model = Site
        fields = [
            *RecordSerializerMixin.RECORD_FIELDS,
            "project",
            "case",
            "name",
            "address",
            "boundary",
            "area_m2",
        ]

    def validate(self, attrs):
        if self.instance is None and attrs.get("project") is None and attrs.get("case") is None:
            raise serializers.ValidationError({"project": ["Give a project or a case."]})
        return attrs
