from django.contrib import admin

from backend.common.admin_readonly import ReadOnlyAdmin
from backend.evidence.models import Blob, Photo, Upload


@admin.register(Blob)
class BlobAdmin(ReadOnlyAdmin):
    list_display = ["sha256", "size", "content_type", "storage", "created_at"]
    list_filter = ["storage", "content_type"]
    search_fields = ["sha256"]


@admin.register(Upload)
class UploadAdmin(ReadOnlyAdmin):
    list_display = ["id", "owner", "filename", "status", "offset", "length", "expires_at"]
    list_filter = ["status", "storage"]
    search_fields = ["id", "filename"]


@admin.register(Photo)
class PhotoAdmin(ReadOnlyAdmin):
    list_display = ["id", "record_type", "record_id", "case", "location_source", "within_site", "distance_to_site_m"]
    list_filter = ["record_type", "location_source", "within_site", "processing_status"]
    search_fields = ["id", "record_id", "blob__sha256"]

    def get_queryset(self, request):
        return Photo.all_objects.select_related("case")
