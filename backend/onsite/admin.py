from django.contrib import admin

from backend.common.admin_readonly import ReadOnlyAdmin
from backend.onsite.models import Delegation, DepartmentHead, OnsiteItem


@admin.register(OnsiteItem)
class OnsiteItemAdmin(admin.ModelAdmin):
    list_display = ["name", "department", "accept_on_site", "decide_on_site", "active"]
    list_filter = ["accept_on_site", "decide_on_site", "active", "department"]
    list_editable = ["accept_on_site", "decide_on_site", "active"]
    search_fields = ["name", "department__name"]


@admin.register(DepartmentHead)
class DepartmentHeadAdmin(admin.ModelAdmin):
    list_display = ["department", "user"]
    autocomplete_fields = ["user"]
    search_fields = ["department__name", "user__username", "user__full_name"]


@admin.register(Delegation)
class DelegationAdmin(ReadOnlyAdmin):
    """Granted and revoked through the API, which audits both."""

    list_display = ["department", "delegate", "valid_from", "valid_to", "revoked_at", "granted_by"]
    list_filter = ["department"]
    filter_horizontal = ["items"]
