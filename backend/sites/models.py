from django.contrib.gis.db import models as gis_models
from django.db import models

from backend.cases.models import ApprovalCase, Project
from backend.common.models import TimeStampedModel


class Site(TimeStampedModel):
    """A red-line boundary (红线) of a project, stored in WGS84."""

    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="sites")
    case = models.ForeignKey(ApprovalCase, null=True, blank=True, on_delete=models.PROTECT, related_name="sites")
    name = models.CharField(max_length=200)
    address = models.CharField(max_length=300, blank=True)
    boundary = gis_models.GeometryField(srid=4326, spatial_index=True)
    area_m2 = models.FloatField(editable=False)

    class Meta:
        ordering = ["project", "name"]

    def __str__(self) -> str:
        return self.name
