from django.contrib.gis.db import models as gis_models
from django.db import models

from backend.cases.models import ApprovalCase, Project
from backend.records.models import FieldRecord


class Site(FieldRecord):
    """A red-line boundary (红线) of a project, stored in WGS84.

    A field record (client id, version, tombstone, audit) like the others, except that its
    case is optional: a red line may be drawn for a project before its case reaches us.
    Written only through backend.sites.services, which validates the geometry and computes
    `area_m2` in PostGIS; CHECK constraints (migration 0002) refuse an invalid, out-of-range
    or non-polygonal boundary even from raw SQL.
    """

    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="sites")
    case = models.ForeignKey(ApprovalCase, null=True, blank=True, on_delete=models.PROTECT, related_name="sites")
    name = models.CharField(max_length=200)
    address = models.CharField(max_length=300, blank=True)
    boundary = gis_models.GeometryField(srid=4326, spatial_index=True)
    # Geodesic area on the WGS84 spheroid: ST_Area(boundary::geography), computed by the service.
    area_m2 = models.FloatField(editable=False)

    class Meta(FieldRecord.Meta):
        ordering = ["project", "name"]

    def __str__(self) -> str:
        return self.name
