from django.contrib.gis.geos import Point
from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from backend.common.geometry import parse_geometry
from backend.evidence.models import Photo
from mobile_api.geometry import GeometryInputField, request_coord_system
from mobile_api.records.views import RecordSerializerMixin

# Inputs that only make sense when the photo is created.
CREATE_ONLY = ("file", "upload", "lon", "lat")
# Fields fixed at creation: accepted unchanged on update (sync sends whole records), refused otherwise.
# (validated name, client name, model attribute)
FIXED = (
    ("record_type", "record_type", "record_type"),
    ("target_id", "record_id", "record_id"),
    ("case_id", "case", "case_id"),
    ("sha256", "sha256", "blob_id"),
)


class PhotoLocationWarningSerializer(serializers.Serializer):
    code = serializers.CharField(read_only=True, help_text="`exif_gps_invalid` or `exif_heading_invalid`.")
    detail = serializers.CharField(read_only=True, help_text="What was wrong and what was used instead.")


class PhotoSerializer(RecordSerializerMixin, serializers.ModelSerializer):
    """A photo of a field record. Create with exactly one of `file` (multipart), `upload` (a
    finished tus upload of yours) or `sha256` (a file you uploaded before or a photo you can see).
    The device fix goes in `location` (GeoJSON Point, or `lon` + `lat`); EXIF GPS wins over it."""

    record_type = serializers.CharField(max_length=40)
    record_id = serializers.UUIDField()
    case = serializers.UUIDField(source="case_id", required=False, help_text="Derived from the record.")
    sha256 = serializers.RegexField(r"^[0-9a-fA-F]{64}$", source="blob_id", required=False)
    file = serializers.FileField(write_only=True, required=False, allow_empty_file=False, use_url=False)
    upload = serializers.UUIDField(write_only=True, required=False, help_text="A finished tus upload of yours.")
    location = GeometryInputField(allowed_types=("Point",), required=False, allow_null=True)
    lon = serializers.FloatField(write_only=True, required=False, min_value=-180, max_value=180)
    lat = serializers.FloatField(write_only=True, required=False, min_value=-90, max_value=90)
    heading = serializers.FloatField(required=False, allow_null=True, min_value=0, max_value=360)
    taken_at = serializers.DateTimeField(required=False, allow_null=True)
    urls = serializers.SerializerMethodField()
    location_warnings = serializers.ListField(
        child=PhotoLocationWarningSerializer(),
        read_only=True,
        help_text=(
            "Why EXIF values in the file were not used: `exif_gps_invalid` (the EXIF position is "
            "malformed, e.g. seconds = 60; `location` is then the device fix, or none), "
            "`exif_heading_invalid`. Empty when the file's values were used or absent."
        ),
    )

    class Meta:
        model = Photo
        fields = [
            *RecordSerializerMixin.RECORD_FIELDS,
            "record_type",
            "record_id",
            "case",
            "sha256",
            "file",
            "upload",
            "content_type",
            "width",
            "height",
            "taken_at",
            "location",
            "lon",
            "lat",
            "location_source",
            "heading",
            "within_site",
            "distance_to_site_m",
            "location_warnings",
            "processing_status",
            "urls",
        ]
        read_only_fields = [
            "content_type",
            "width",
            "height",
            "location_source",
            "within_site",
            "distance_to_site_m",
            "processing_status",
        ]

    @extend_schema_field(
        {
            "type": "object",
            "properties": {
                "original": {"type": "string", "format": "uri"},
                "thumbnail": {"type": "string", "format": "uri", "nullable": True},
                "preview": {"type": "string", "format": "uri", "nullable": True},
            },
        }
    )
    def get_urls(self, photo: Photo) -> dict:
        request = self.context.get("request")

        def url(name: str) -> str:
            path = reverse(f"api:photo-{name}", args=[photo.pk])
            return request.build_absolute_uri(path) if request is not None else path

        return {
            "original": url("original"),
            "thumbnail": url("thumbnail") if photo.thumbnail_id else None,
            "preview": url("preview") if photo.preview_id else None,
        }

    def validate(self, attrs):
        attrs = super().validate(attrs)
        attrs["target_id"] = attrs.pop("record_id", None)
        if "blob_id" in attrs:
            attrs["sha256"] = attrs.pop("blob_id").lower()
        lon, lat = attrs.pop("lon", None), attrs.pop("lat", None)
        if (lon is None) != (lat is None):
            raise serializers.ValidationError({"lon": ["Send lon and lat together."]})
        if lon is not None:
            if attrs.get("location") is not None:
                raise serializers.ValidationError({"location": ["Send location or lon/lat, not both."]})
            # Through the same parser as GeoJSON input, so X-Coord-System applies.
            attrs["location"] = parse_geometry(
                {"type": "Point", "coordinates": [lon, lat]},
                allowed_types=("Point",),
                coord_system=request_coord_system(self.context.get("request")),
            )
        if self.instance is None:
            if attrs["target_id"] is None:
                raise serializers.ValidationError({"record_id": ["This field is required."]})
            return attrs
        return self._validate_update(attrs)

    def _validate_update(self, attrs):
        errors = {}
        for name in CREATE_ONLY:
            if attrs.get(name) is not None:
                errors[name] = ["Only when the photo is created."]
        for name, client_name, attribute in FIXED:
            if name in attrs:
                value = attrs.pop(name)
                if value is not None and str(value) != str(getattr(self.instance, attribute)):
                    errors[client_name] = ["Cannot be changed."]
        if "location" in attrs:
            location = attrs.pop("location")
            if not _same_point(location, self.instance.location):
                errors["location"] = ["Cannot be changed."]
        if errors:
            raise serializers.ValidationError(errors)
        return {name: value for name, value in attrs.items() if name not in CREATE_ONLY}


def _same_point(a: Point | None, b: Point | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return abs(a.x - b.x) < 1e-9 and abs(a.y - b.y) < 1e-9
