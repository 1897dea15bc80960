"""Admin for coordination meetings. Changes go through the services (versioned, audited, mirrored
to the further cases); the status moves only through the lifecycle services, not the form."""

from django.contrib import admin, messages
from django.contrib.gis.admin import GISModelAdmin

from backend.common.errors import ApplicationError
from backend.meetings import services
from backend.meetings.models import Meeting, MeetingDecision, MeetingParticipant
from backend.records.models import SYSTEM_FIELDS

_RECORD_READONLY = ("id", "version", "created_at", "updated_at", "created_by", "is_locked", "locked_at", "deleted_at")


class _RecordAdmin(GISModelAdmin):
    readonly_fields = _RECORD_READONLY
    create_fields: tuple[str, ...] = ()
    create_service = None
    update_service = None
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
            type(self).delete_service(instance=obj, by=request.user)
        except ApplicationError as error:
            self.message_user(request, f"{error.code}: {error.message}", level=messages.ERROR)

    def has_delete_permission(self, request, obj=None):
        # Bulk deletes would bypass the tombstone service.
        return obj is not None and super().has_delete_permission(request, obj)


class _ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


class MeetingParticipantInline(_ReadOnlyInline):
    model = MeetingParticipant
    fields = readonly_fields = ("department", "person_name", "position", "attended")


class MeetingDecisionInline(_ReadOnlyInline):
    model = MeetingDecision
    fields = readonly_fields = ("text", "finding", "resolves_finding", "responsible_department", "due_date")


@admin.register(Meeting)
class MeetingAdmin(_RecordAdmin):
    list_display = ("scheduled_at", "kind", "number", "title", "case", "status", "version")
    list_filter = ("kind", "status")
    search_fields = ("number", "title", "case__external_no", "minutes")
    date_hierarchy = "scheduled_at"
    readonly_fields = (*_RECORD_READONLY, "status", "cancel_reason")
    raw_id_fields = ("case",)
    inlines = [MeetingParticipantInline, MeetingDecisionInline]
    create_fields = (
        "case",
        "further_cases",
        "kind",
        "number",
        "title",
        "scheduled_at",
        "held_at",
        "place",
        "location",
        "agenda",
        "minutes",
        "findings",
    )
    create_service = staticmethod(services.meeting_create)
    update_service = staticmethod(services.meeting_update)
    delete_service = staticmethod(services.meeting_delete)


@admin.register(MeetingParticipant)
class MeetingParticipantAdmin(_RecordAdmin):
    list_display = ("meeting", "department", "person_name", "position", "attended")
    list_filter = ("attended",)
    search_fields = ("department__name", "person_name")
    readonly_fields = (*_RECORD_READONLY, "case")
    raw_id_fields = ("meeting", "department")
    create_fields = ("meeting", "department", "person_name", "position", "attended", "remarks")
    create_service = staticmethod(services.meeting_participant_create)
    update_service = staticmethod(services.meeting_participant_update)
    delete_service = staticmethod(services.meeting_participant_delete)


@admin.register(MeetingDecision)
class MeetingDecisionAdmin(_RecordAdmin):
    list_display = ("meeting", "text", "finding", "resolves_finding", "responsible_department")
    list_filter = ("resolves_finding",)
    search_fields = ("text",)
    readonly_fields = (*_RECORD_READONLY, "case")
    raw_id_fields = ("meeting", "finding", "responsible_department")
    create_fields = ("meeting", "text", "responsible_department", "due_date", "finding", "resolves_finding")
    create_service = staticmethod(services.meeting_decision_create)
    update_service = staticmethod(services.meeting_decision_update)
    delete_service = staticmethod(services.meeting_decision_delete)
