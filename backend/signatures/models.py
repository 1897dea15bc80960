"""Electronic signatures of field records (电子签名法 §13).

A signature binds a signer (name, role, organisation; the authenticated user, or a named person
signing on that user's device, who is then recorded as the witness), a time and place, the
image of the handwritten signature and the SHA-256 of the exact record snapshot that was signed
(with its child rows and its photos' hashes). The server signs all of that with its Ed25519
key (`server_signature`), so any later change to the signature row or to the signed record is
detectable (`backend.signatures.services.signature_verify`). Signatures are never edited or
deleted: reopening the record voids them (status `voided`, audited).
"""

from django.contrib.gis.db import models as gis_models
from django.db import models

from backend.accounts.models import Organization
from backend.records.models import FieldRecord


class SignatureStatus(models.TextChoices):
    VALID = "valid", "有效"
    VOIDED = "voided", "已作废"


class Signature(FieldRecord):
    # The signed record: any registered record type except signatures themselves.
    record_type = models.CharField(max_length=40)
    record_id = models.UUIDField()
    # The signer slot this signature fills (e.g. an attending department of a survey, the
    # department of an inspection item, the builder).
    department = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    signer_name = models.CharField(max_length=100)
    signer_role = models.CharField(max_length=100, blank=True)
    signer_organization = models.ForeignKey(
        Organization, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # The organisation's name at signing time (or the only record of it when it is not registered).
    signer_organization_name = models.CharField(max_length=200, blank=True)
    # Set when the signer is the authenticated user.
    signer_user = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.PROTECT, related_name="signatures"
    )
    # Set when a named person signed on this user's device (e.g. the builder's representative on
    # the official's tablet): the device's user witnessed it.
    witness = models.ForeignKey("accounts.User", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    # Server time when the server signed; the device's own time is kept for offline signatures.
    signed_at = models.DateTimeField()
    device_signed_at = models.DateTimeField(null=True, blank=True)
    location = gis_models.PointField(srid=4326, null=True, blank=True)
    # The PNG of the handwritten signature (a content-addressed blob).
    image = models.ForeignKey("evidence.Blob", on_delete=models.PROTECT, related_name="+")
    # Optional pen strokes: [[[x, y] or [x, y, t], …], …].
    strokes = models.JSONField(null=True, blank=True)
    # SHA-256 (hex) of the canonical JSON of the signed record's snapshot.
    content_hash = models.CharField(max_length=64)
    # Ed25519 over the canonical signed payload (`signature_payload`), base64.
    server_signature = models.CharField(max_length=100)
    key_id = models.CharField(max_length=100)
    status = models.CharField(max_length=10, choices=SignatureStatus.choices, default=SignatureStatus.VALID)
    voided_at = models.DateTimeField(null=True, blank=True)
    void_reason = models.TextField(blank=True)

    class Meta(FieldRecord.Meta):
        ordering = ["signed_at", "id"]
        indexes = [
            models.Index(fields=["record_type", "record_id", "status"], name="signature_record_idx"),
            models.Index(fields=["case", "updated_at"], name="signature_case_updated_idx"),
        ]
        constraints = [
            # One valid signature per slot: a second one for a filled slot is refused (409).
            models.UniqueConstraint(
                fields=["record_type", "record_id", "department"],
                condition=models.Q(status="valid", deleted_at__isnull=True),
                name="signature_one_valid_per_slot",
            ),
            models.CheckConstraint(
                condition=models.Q(content_hash__regex=r"^[0-9a-f]{64}$"), name="signature_content_hash_is_hex"
            ),
            models.CheckConstraint(
                condition=models.Q(status="valid", voided_at__isnull=True)
                | models.Q(status="voided", voided_at__isnull=False),
                name="signature_voided_has_time",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.signer_name}（{self.signer_organization_name}）签署 {self.record_type} {self.record_id}"

    @property
    def image_sha256(self) -> str:
        return self.image_id
