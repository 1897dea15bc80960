from django.contrib import admin

from backend.audit.models import AuditCheckpoint, AuditEntry
from backend.common.admin_readonly import ReadOnlyAdmin


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    list_display = ["id", "occurred_at", "actor_username", "action", "record_type", "record_id"]
    list_filter = ["action", "record_type"]
    search_fields = ["record_id", "actor_username"]


@admin.register(AuditCheckpoint)
class AuditCheckpointAdmin(ReadOnlyAdmin):
    list_display = ["sequence", "created_at", "last_entry_id", "entry_count", "key_id"]
