"""`material-scans/`: application materials scanned in the service vehicle (PDF or JPEG),
attached to a case item. Also the sync type `material_scan`."""

from rest_framework import serializers

from backend.cases.materials import MaterialScan, ScanContentType
from backend.cases.models import ApprovalItem, Material
from backend.cases.selectors import cases_visible_to
from backend.sync.selectors import attachments_missing_by_record, material_scans_with_completeness
from mobile_api.records.views import FieldRecordViewSet, RecordSerializerMixin, visible_queryset_field


def _items_visible_to(*, user):
    return ApprovalItem.objects.filter(case__in=cases_visible_to(user=user))


def _materials_visible_to(*, user):
    return Material.objects.filter(item__case__in=cases_visible_to(user=user))


class MaterialScanSerializer(RecordSerializerMixin, serializers.ModelSerializer):
    case = visible_queryset_field(cases_visible_to)
    item = visible_queryset_field(_items_visible_to)
    material = visible_queryset_field(_materials_visible_to, required=False, allow_null=True)
    sha256 = serializers.RegexField(r"^[0-9a-f]{64}$")
    content_type = serializers.ChoiceField(choices=ScanContentType.choices)
    complete = serializers.SerializerMethodField()

    class Meta:
        model = MaterialScan
        fields = [
            *RecordSerializerMixin.RECORD_FIELDS,
            "case",
            "item",
            "material",
            "sha256",
            "content_type",
            "filename",
            "page_count",
            "note",
            "visit_id",
            "complete",
        ]

    def get_complete(self, scan: MaterialScan) -> bool:
        # Listed and fetched scans carry the selector's annotation; a scan just written does not.
        # Either way `complete` is as the asking user sees it, like `missing_attachments`.
        if hasattr(scan, "is_complete"):
            return scan.is_complete
        user = getattr(self.context.get("request"), "user", None) or self.context.get("user")
        return not attachments_missing_by_record(record_type="material_scan", record_ids=[scan.pk], user=user)


class MaterialScanViewSet(FieldRecordViewSet):
    """Scanned materials; a scan is `complete` once its file's upload has arrived."""

    serializer_class = MaterialScanSerializer
    selector = staticmethod(material_scans_with_completeness)
    record_type = "material_scan"
