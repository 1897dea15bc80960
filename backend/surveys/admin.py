"""Admin for surveys, participants and findings. Changes go through the services (versioned,
audited, lock-respecting); status moves only through the lifecycle actions, not the form."""

from django.contrib import admin, messages
from django.contrib.gis.admin import GISModelAdmin

from backend.common.errors import ApplicationError
from backend.records.models import SYSTEM_FIELDS
from backend.records.services import record_delete
from backend.surveys import services
from backend.surveys.models import Finding, Survey, SurveyParticipant

_RECORD_READONLY = ("id", "version", "created_at", "updated_at", "created_by", "is_locked", "locked_at", "deleted_at")


class _RecordAdmin(GISModelAdmin):
    """Saves through the app's services so the admin obeys the same rules as REST and sync."""

    readonly_fields = _RECORD_READONLY
    create_fields: tuple[str, ...] = ()
    update_service = None
    create_service = None
    delete_service = None

    def get_queryset(self, request):
        return self.model.all_objects.all()

    def save_model(self, request, obj, form, change):
        data = {name: form.cleaned_data[name] for name in form.changed_data if name not in SYSTEM_FIELDS}
        try:
            if change:
                current = self.model.all_objects.get(pk=obj.pk)
                updated = type(self).update_service(instance=current, changes=data, by=request.user)
            else:
                fields = {name: form.cleaned_data.get(name) for name in self.create_fields if name in form.cleaned_data}
                updated, _ = type(self).create_service(by=request.user, **fields)
            obj.pk = updated.pk
            obj.version = updated.version
        except ApplicationError as error:
            self.message_user(request, f"{error.code}: {error.message}", level=messages.ERROR)

    def delete_model(self, request, obj):
        try:
            (type(self).delete_service or record_delete)(instance=obj, by=request.user)
        except ApplicationError as error:
            self.message_user(request, f"{error.code}: {error.message}", level=messages.ERROR)

    def has_delete_permission(self, request, obj=None):
        # Bulk deletes would bypass the tombstone service.
        return obj is not None and super().has_delete_permission(request, obj)


class SurveyParticipantInline(admin.TabularInline):
    model = SurveyParticipant
    fk_name = "survey"
    fields = ("department", "person_name", "must_attend", "attended", "opinion", "is_waived", "waived_reason")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Survey)
class SurveyAdmin(_RecordAdmin):
    list_display = ("scheduled_at", "case", "site", "status", "conclusion", "is_locked", "version")
    list_filter = ("status", "conclusion", "is_locked")
    search_fields = ("case__external_no", "summary", "minutes")
    date_hierarchy = "scheduled_at"
    readonly_fields = (*_RECORD_READONLY, "status", "cancel_reason")
    raw_id_fields = ("case", "site")
    inlines = [SurveyParticipantInline]
    create_fields = (
        "case",
        "site",
        "scheduled_at",
        "started_at",
        "ended_at",
        "summary",
        "conclusion",
        "conditions",
        "minutes",
        "location",
    )
    create_service = staticmethod(services.survey_create)
    update_service = staticmethod(services.survey_update)
    delete_service = staticmethod(services.survey_delete)


@admin.register(SurveyParticipant)
class SurveyParticipantAdmin(_RecordAdmin):
    list_display = ("survey", "department", "person_name", "must_attend", "attended", "is_waived", "is_locked")
    list_filter = ("must_attend", "attended", "is_waived")
    search_fields = ("department__name", "person_name", "opinion")
    readonly_fields = (*_RECORD_READONLY, "case")
    raw_id_fields = ("survey", "department")
    create_fields = (
        "survey",
        "department",
        "person_name",
        "must_attend",
        "attended",
        "arrived_at",
        "opinion",
        "opinion_at",
        "is_waived",
        "waived_reason",
    )
    create_service = staticmethod(services.survey_participant_create)
    update_service = staticmethod(services.survey_participant_update)
    delete_service = staticmethod(services.survey_participant_delete)


@admin.register(Finding)
class FindingAdmin(_RecordAdmin):
    list_display = ("description", "case", "responsible_department", "due_date", "status", "version")
    list_filter = ("status",)
    search_fields = ("description", "case__external_no", "responsible_department__name", "meeting_ref")
    readonly_fields = (*_RECORD_READONLY, "status", "resolved_at", "resolution")
    raw_id_fields = ("case", "survey", "responsible_department")
    create_fields = ("case", "survey", "description", "location", "responsible_department", "due_date", "meeting_ref")
    create_service = staticmethod(services.finding_create)
    update_service = staticmethod(services.finding_update)
    delete_service = staticmethod(services.finding_delete)
