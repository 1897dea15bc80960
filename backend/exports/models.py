"""Exports of map collections to files, and uploaded red-line files waiting to become sites."""

import uuid

from django.db import models
from django.utils import timezone


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"
    EXPIRED = "expired", "Expired"


class ExportFormat(models.TextChoices):
    GPKG = "gpkg", "GeoPackage"
    GEOJSON = "geojson", "GeoJSON"
    CSV = "csv", "CSV (WKT geometry)"
    KML = "kml", "KML"
    XLSX = "xlsx", "Excel (WKT geometry)"
    SHP = "shp", "Shapefile (zipped)"


class Export(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    owner = models.ForeignKey("accounts.User", on_delete=models.CASCADE, related_name="+")
    collection = models.CharField(max_length=40)
    format = models.CharField(max_length=10, choices=ExportFormat.choices)
    case = models.ForeignKey("cases.ApprovalCase", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # [min_lon, min_lat, max_lon, max_lat] in WGS84.
    bbox = models.JSONField(null=True, blank=True)
    datetime_start = models.DateTimeField(null=True, blank=True)
    datetime_end = models.DateTimeField(null=True, blank=True)
    # The request's own text, echoed back.
    datetime_text = models.CharField(max_length=100, blank=True)
    status = models.CharField(max_length=10, choices=JobStatus.choices, default=JobStatus.QUEUED)
    progress = models.PositiveSmallIntegerField(default=0)
    row_count = models.PositiveIntegerField(null=True, blank=True)
    # Relative to EXPORTS_ROOT; empty until done.
    file_name = models.CharField(max_length=200, blank=True)
    file_size = models.BigIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.collection}.{self.format} ({self.status})"


class RedLineImport(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    owner = models.ForeignKey("accounts.User", on_delete=models.CASCADE, related_name="+")
    filename = models.CharField(max_length=255)
    # Detected from the content: dxf, shp, kml, kmz, gpkg, geojson.
    source_format = models.CharField(max_length=10, blank=True)
    # "4326", "4490", "4549" … or "gcj02"; empty: the file's own CRS.
    crs = models.CharField(max_length=10, blank=True)
    layers = models.JSONField(default=list, blank=True)
    project = models.ForeignKey("cases.Project", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    case = models.ForeignKey("cases.ApprovalCase", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    status = models.CharField(max_length=10, choices=JobStatus.choices, default=JobStatus.QUEUED)
    progress = models.PositiveSmallIntegerField(default=0)
    # [{index, layer, handle, name, geometry_type, geometry, area_m2, is_valid, errors}]
    features = models.JSONField(default=list, blank=True)
    skipped = models.PositiveIntegerField(default=0)
    error_code = models.CharField(max_length=40, blank=True)
    error = models.TextField(blank=True)
    # Relative to IMPORTS_ROOT; removed once committed or expired.
    file_name = models.CharField(max_length=200, blank=True)
    committed_at = models.DateTimeField(null=True, blank=True)
    # Site ids written by the commit.
    sites = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.filename} ({self.status})"
