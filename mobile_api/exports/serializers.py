from rest_framework import serializers

from backend.exports.models import Export, RedLineImport


class ExportRequestSerializer(serializers.Serializer):
    # Plain text: the service names the unknown collection or format with its own code.
    collection = serializers.CharField(max_length=100)
    format = serializers.CharField(max_length=20)
    case = serializers.UUIDField(required=False, allow_null=True)
    bbox = serializers.JSONField(
        required=False, allow_null=True, help_text="[min_lon, min_lat, max_lon, max_lat] or 'a,b,c,d' (WGS84)"
    )
    datetime = serializers.CharField(
        required=False, allow_blank=True, max_length=100, help_text="an instant or start/end ('..' open)"
    )


class ExportSerializer(serializers.ModelSerializer):
    case = serializers.UUIDField(source="case_id", allow_null=True, read_only=True)
    datetime = serializers.CharField(source="datetime_text", read_only=True)
    file = serializers.SerializerMethodField()

    class Meta:
        model = Export
        fields = [
            "id",
            "collection",
            "format",
            "case",
            "bbox",
            "datetime",
            "status",
            "progress",
            "row_count",
            "file_size",
            "file",
            "error",
            "created_at",
            "finished_at",
            "expires_at",
        ]
        read_only_fields = fields

    def get_file(self, export: Export) -> str | None:
        if export.status != "done":
            return None
        request = self.context.get("request")
        path = f"/api/v1/exports/{export.pk}/file"
        return request.build_absolute_uri(path) if request else path


class ImportFeatureSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    layer = serializers.CharField()
    handle = serializers.CharField(allow_blank=True)
    name = serializers.CharField(allow_blank=True)
    geometry_type = serializers.CharField()
    geometry = serializers.JSONField(help_text="GeoJSON geometry in WGS84")
    area_m2 = serializers.FloatField(allow_null=True)
    is_valid = serializers.BooleanField()
    errors = serializers.ListField(child=serializers.CharField())


class RedLineImportSerializer(serializers.ModelSerializer):
    project = serializers.UUIDField(source="project_id", allow_null=True, read_only=True)
    case = serializers.UUIDField(source="case_id", allow_null=True, read_only=True)
    features = ImportFeatureSerializer(many=True, read_only=True)

    class Meta:
        model = RedLineImport
        fields = [
            "id",
            "filename",
            "source_format",
            "crs",
            "layers",
            "project",
            "case",
            "status",
            "progress",
            "features",
            "skipped",
            "error_code",
            "error",
            "sites",
            "committed_at",
            "created_at",
            "expires_at",
        ]
        read_only_fields = fields


class ImportCommitFeatureSerializer(serializers.Serializer):
    index = serializers.IntegerField(min_value=0)
    name = serializers.CharField(required=False, max_length=200)
    address = serializers.CharField(required=False, allow_blank=True, max_length=300)


class ImportCommitSerializer(serializers.Serializer):
    features = ImportCommitFeatureSerializer(many=True, allow_empty=False)
    project = serializers.UUIDField(required=False, allow_null=True)
    case = serializers.UUIDField(required=False, allow_null=True)
    # Replace this site's boundary with the one chosen feature instead of creating sites.
    site = serializers.UUIDField(required=False, allow_null=True)
