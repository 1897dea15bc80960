from django import forms
from django.contrib import admin
from django.contrib.gis.admin import GISModelAdmin

from backend.common.errors import ApplicationError
from backend.sites.models import Site
from backend.sites.services import site_check_boundary, site_create, site_delete, site_update

ADMIN_FIELDS = ["project", "case", "name", "address", "boundary"]


class SiteAdminForm(forms.ModelForm):
    class Meta:
        model = Site
        fields = ADMIN_FIELDS

    def clean_boundary(self):
        try:
            return site_check_boundary(self.cleaned_data["boundary"])
        except ApplicationError as error:
            raise forms.ValidationError(error.message, code=error.code) from error

    def clean(self):
        cleaned = super().clean()
        project, case = cleaned.get("project"), cleaned.get("case")
        if project is not None and case is not None and case.project_id != project.pk:
            self.add_error("case", "This case belongs to another project.")
        return cleaned


@admin.register(Site)
class SiteAdmin(GISModelAdmin):
    """Red lines on a map; saving and deleting go through the same services as the API."""

    form = SiteAdminForm
    list_display = ["name", "project", "case", "area_m2", "version", "updated_at"]
    list_select_related = ["project", "case"]
    search_fields = ["name", "address", "project__code", "project__name", "case__external_no"]
    raw_id_fields = ["project", "case"]
    readonly_fields = ["area_m2", "version", "created_by", "device_id", "created_at", "updated_at"]
    gis_widget_kwargs = {"attrs": {"default_lon": 120.17, "default_lat": 35.96, "default_zoom": 14}}

    def get_queryset(self, request):
        return Site.objects.all()

    def save_model(self, request, obj, form, change):
        if change:
            changes = {name: form.cleaned_data[name] for name in form.changed_data if name in ADMIN_FIELDS}
            saved = site_update(instance=obj, changes=changes, by=request.user)
        else:
            saved, _ = site_create(by=request.user, **{name: form.cleaned_data[name] for name in ADMIN_FIELDS})
        obj.pk, obj.version, obj.area_m2 = saved.pk, saved.version, saved.area_m2

    def delete_model(self, request, obj):
        site_delete(instance=obj, by=request.user)

    def delete_queryset(self, request, queryset):
        for site in queryset:
            site_delete(instance=site, by=request.user)
