"""Admin for utility records. Requests and applications are read here and written through the
API (applicant and company each have their own step); access points can be drawn on a map, saved
through the same services as the API."""

from django import forms
from django.contrib import admin
from django.contrib.gis.admin import GISModelAdmin

from backend.common.admin_readonly import ReadOnlyAdmin
from backend.common.errors import ApplicationError
from backend.utilities.demand import validate_attributes
from backend.utilities.models import UtilityApplication, UtilityPoint, UtilityRequest
from backend.utilities.services import (
    utility_company_for,
    utility_point_create,
    utility_point_delete,
    utility_point_update,
)

RECORD_READONLY = ["id", "version", "created_at", "updated_at", "created_by", "updated_by", "device_id", "deleted_at"]


class UtilityRequestInline(admin.TabularInline):
    model = UtilityRequest
    fields = ["utility_type", "company", "status", "planned_connection_date"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(UtilityApplication)
class UtilityApplicationAdmin(ReadOnlyAdmin):
    list_display = ["id", "case", "site", "applicant_name", "created_at"]
    list_select_related = ["case", "site"]
    search_fields = ["applicant_name", "case__external_no", "site__name"]
    inlines = [UtilityRequestInline]


@admin.register(UtilityRequest)
class UtilityRequestAdmin(ReadOnlyAdmin):
    list_display = ["id", "utility_type", "company", "status", "case", "site", "planned_connection_date", "updated_at"]
    list_filter = ["utility_type", "status"]
    list_select_related = ["company", "case", "site"]
    search_fields = ["case__external_no", "site__name", "company__name", "applicant_name"]


POINT_ADMIN_CREATE_FIELDS = ["case", "utility_type", "company", "request", "name", "location", "attributes", "note"]
POINT_ADMIN_EDIT_FIELDS = ["request", "name", "location", "attributes", "note"]


class UtilityPointAdminForm(forms.ModelForm):
    class Meta:
        model = UtilityPoint
        fields = POINT_ADMIN_CREATE_FIELDS

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "company" in self.fields:
            # Empty: the request's company or the company serving the type in the region.
            self.fields["company"].required = False
        if "attributes" in self.fields:
            self.fields["attributes"].required = False

    def clean(self):
        cleaned = super().clean()
        utility_type = cleaned.get("utility_type") or (self.instance.utility_type if self.instance.pk else None)
        if utility_type and "attributes" in cleaned:
            try:
                cleaned["attributes"] = validate_attributes(
                    utility_type=utility_type, attributes=cleaned["attributes"] or {}
                )
            except ApplicationError as error:
                self.add_error("attributes", "; ".join(f"{k}: {' '.join(v)}" for k, v in (error.errors or {}).items()))
        if not self.instance.pk and utility_type and cleaned.get("case") and cleaned.get("request") is None:
            try:
                utility_company_for(utility_type=utility_type, case=cleaned["case"], named=cleaned.get("company"))
            except ApplicationError as error:
                self.add_error("company", error.message)
        return cleaned


@admin.register(UtilityPoint)
class UtilityPointAdmin(GISModelAdmin):
    form = UtilityPointAdminForm
    list_display = ["id", "utility_type", "name", "company", "status", "case", "updated_at"]
    list_filter = ["utility_type", "status"]
    list_select_related = ["company", "case"]
    search_fields = ["name", "case__external_no", "company__name"]
    raw_id_fields = ["case", "request"]
    readonly_fields = ["status", *RECORD_READONLY]
    gis_widget_kwargs = {"attrs": {"default_lon": 120.17, "default_lat": 35.96, "default_zoom": 14}}

    def get_readonly_fields(self, request, obj=None):
        if obj is not None:
            return ["case", "utility_type", "company", *self.readonly_fields]
        return self.readonly_fields

    def save_model(self, request, obj, form, change):
        if change:
            changes = {name: form.cleaned_data[name] for name in form.changed_data if name in POINT_ADMIN_EDIT_FIELDS}
            saved = utility_point_update(instance=obj, changes=changes, by=request.user)
        else:
            saved, _ = utility_point_create(
                by=request.user, **{name: form.cleaned_data.get(name) for name in POINT_ADMIN_CREATE_FIELDS}
            )
        obj.pk, obj.version = saved.pk, saved.version

    def delete_model(self, request, obj):
        utility_point_delete(instance=obj, by=request.user)

    def delete_queryset(self, request, queryset):
        for point in queryset:
            utility_point_delete(instance=point, by=request.user)
