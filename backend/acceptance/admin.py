"""Administrators edit the acceptance catalogue here. Inspection records are shown read-only:
their writes go through backend.acceptance.services (versions, audit, locks), never the admin."""

from django.contrib import admin

from backend.acceptance.models import CatalogueItem, Inspection, InspectionItem, RectificationItem
from backend.common.admin_readonly import ReadOnlyAdmin


@admin.register(CatalogueItem)
class CatalogueItemAdmin(admin.ModelAdmin):
    list_display = ["code", "stage", "name", "default_department", "default_department_name", "order", "is_active"]
    list_editable = ["order", "is_active"]
    list_filter = ["stage", "is_active"]
    search_fields = ["code", "name", "default_department_name"]
    autocomplete_fields = ["default_department"]


class InspectionItemInline(admin.TabularInline):
    model = InspectionItem
    fk_name = "inspection"
    fields = ["code", "name", "department", "result", "is_final", "recorded_at", "is_locked"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Inspection)
class InspectionAdmin(ReadOnlyAdmin):
    list_display = ["id", "case", "stage", "status", "scheduled_at", "reinspection_of", "is_locked", "version"]
    list_filter = ["stage", "status", "is_locked"]
    search_fields = ["case__external_no", "case__project__name"]
    list_select_related = ["case"]
    inlines = [InspectionItemInline]


@admin.register(InspectionItem)
class InspectionItemAdmin(ReadOnlyAdmin):
    list_display = ["name", "inspection", "department", "result", "is_final", "recorded_at", "is_locked"]
    list_filter = ["result", "is_final", "code"]
    search_fields = ["name", "code", "department__name", "case__external_no"]
    list_select_related = ["department", "inspection"]


@admin.register(RectificationItem)
class RectificationItemAdmin(ReadOnlyAdmin):
    list_display = ["description", "inspection_item", "status", "due_date", "fixed_at", "verified_at"]
    list_filter = ["status"]
    search_fields = ["description", "case__external_no"]
    list_select_related = ["inspection_item"]
