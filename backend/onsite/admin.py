from django.contrib import admin

from backend.common.admin_readonly import ReadOnlyAdmin
from backend.onsite.models import Certificate, Delegation, DepartmentHead, OnsiteDecision, OnsiteIntake, OnsiteItem


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


@admin.register(OnsiteIntake)
class OnsiteIntakeAdmin(ReadOnlyAdmin):
    """Field records: written through their services (REST and sync push), shown here."""

    list_display = ["onsite_item", "applicant", "received_at", "case"]
    list_filter = ["onsite_item__department"]
    search_fields = ["applicant", "case__external_no"]


@admin.register(OnsiteDecision)
class OnsiteDecisionAdmin(ReadOnlyAdmin):
    list_display = ["onsite_item", "outcome", "department", "delegate", "decided_at"]
    list_filter = ["outcome", "department"]
    search_fields = ["case__external_no"]


@admin.register(Certificate)
class CertificateAdmin(ReadOnlyAdmin):
    list_display = ["number", "holder", "item_name", "outcome", "department_name", "issued_at"]
    list_filter = ["outcome", "year", "department"]
    search_fields = ["number", "holder"]
