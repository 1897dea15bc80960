from django.contrib import admin

from backend.common.admin_readonly import ReadOnlyAdmin
from backend.signatures.models import Signature


@admin.register(Signature)
class SignatureAdmin(ReadOnlyAdmin):
    list_display = ["id", "record_type", "record_id", "department", "signer_name", "signed_at", "status", "key_id"]
    list_filter = ["record_type", "status", "key_id"]
    search_fields = ["id", "record_id", "signer_name", "content_hash"]

    def get_queryset(self, request):
        return Signature.all_objects.select_related("department")
