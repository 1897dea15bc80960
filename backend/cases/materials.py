"""Scans of a case item's application materials, made in the service vehicle.

A field record (versioned, audited, synced) of the `cases` app: it names the item and, when
known, the material it supplies. `backend.cases.models` loads it; it names the case models by
label, so neither module imports the other's names at load time.
"""

from django.db import models

from backend.records.models import FieldRecord


class ScanContentType(models.TextChoices):
    PDF = "application/pdf", "PDF"
    JPEG = "image/jpeg", "JPEG"


class MaterialScan(FieldRecord):
    """An application material scanned in the service vehicle and attached to a case item.

    The file itself travels as an upload (tus) identified by `sha256`; the scan is complete
    when that file has arrived.
    """

    item = models.ForeignKey("cases.ApprovalItem", on_delete=models.PROTECT, related_name="+")
    material = models.ForeignKey("cases.Material", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    sha256 = models.CharField(max_length=64)
    content_type = models.CharField(max_length=32, choices=ScanContentType.choices)
    filename = models.CharField(max_length=255, blank=True)
    page_count = models.PositiveIntegerField(null=True, blank=True)
    note = models.TextField(blank=True)
    # The vehicle visit during which it was scanned (a visits record id).
    visit_id = models.UUIDField(null=True, blank=True)

    class Meta(FieldRecord.Meta):
        app_label = "cases"
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["case", "created_at"], name="material_scan_case_idx"),
            models.Index(fields=["item"], name="material_scan_item_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(sha256__regex=r"^[0-9a-f]{64}$"), name="material_scan_sha256_hex"
            ),
        ]

    def __str__(self) -> str:
        return self.filename or self.sha256[:12]
