import datetime as dt

from django import forms
from django.contrib import admin, messages
from django.contrib.gis.admin import GISModelAdmin
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from backend.cases.calendar import (
    InvalidCalendarYear,
    calendar_status,
    calendar_year_load,
    calendar_year_summaries,
    document_from_file,
    horizon_warning_text,
)
from backend.cases.codes import credit_code_problem, project_code_problem, region_code_of
from backend.cases.deadlines import chinesecalendar_days
from backend.cases.materials import MaterialScan
from backend.cases.models import (
    ApprovalCase,
    ApprovalItem,
    CalendarDay,
    CalendarYear,
    ItemStatusEvent,
    Material,
    Project,
)
from backend.cases.services import item_handler_problem, project_milestone_problems
from backend.common.admin_readonly import ReadOnlyAdmin


class ProjectAdminForm(forms.ModelForm):
    class Meta:
        model = Project
        fields = [
            "code",
            "name",
            "builder",
            "investment_type",
            "category",
            "is_simple_low_risk",
            "priority",
            "location",
            "start_milestone",
            "start_milestone_on",
            "standard_days_override",
        ]

    def clean(self):
        cleaned = super().clean()
        probe = Project(
            start_milestone=cleaned.get("start_milestone") or "",
            start_milestone_on=cleaned.get("start_milestone_on"),
        )
        for field, problems in project_milestone_problems(probe).items():
            for problem in problems:
                self.add_error(field, problem)
        return cleaned

    def clean_code(self):
        code = (self.cleaned_data.get("code") or "").strip().upper()
        problem = project_code_problem(code)
        if problem:
            raise ValidationError(problem)
        return code

    def clean_builder(self):
        builder = self.cleaned_data.get("builder")
        if builder is not None and builder.credit_code and credit_code_problem(builder.credit_code):
            raise ValidationError(f"The builder's credit code is invalid: {credit_code_problem(builder.credit_code)}")
        return builder


@admin.register(Project)
class ProjectAdmin(GISModelAdmin):
    form = ProjectAdminForm
    list_display = ["code", "name", "builder", "investment_type", "category", "priority", "is_simple_low_risk"]
    list_filter = ["investment_type", "category", "priority", "is_simple_low_risk"]
    search_fields = ["code", "name", "builder__name"]
    readonly_fields = ["region_code", "created_at", "updated_at"]
    autocomplete_fields = ["builder"]

    def save_model(self, request, obj, form, change):
        obj.region_code = region_code_of(obj.code)
        super().save_model(request, obj, form, change)


class ApprovalItemAdminForm(forms.ModelForm):
    class Meta:
        model = ApprovalItem
        fields = [
            "case",
            "name",
            "department",
            "handler",
            "statutory_days",
            "promised_days",
            "accepted_at",
            "status",
            "modes",
            "completed_at",
            "external_id",
        ]

    def clean(self):
        cleaned = super().clean()
        department, handler = cleaned.get("department"), cleaned.get("handler")
        if department is not None:
            problem = item_handler_problem(handler=handler, department=department)
            if problem:
                self.add_error("handler", problem)
        return cleaned


class ApprovalItemInline(admin.TabularInline):
    model = ApprovalItem
    form = ApprovalItemAdminForm
    extra = 0
    fields = [
        "name",
        "department",
        "handler",
        "statutory_days",
        "promised_days",
        "accepted_at",
        "status",
        "modes",
        "due_date",
        "first_overdue_on",
    ]
    readonly_fields = ["due_date", "first_overdue_on"]
    autocomplete_fields = ["department"]
    raw_id_fields = ["handler"]
    show_change_link = True


@admin.register(ApprovalCase)
class ApprovalCaseAdmin(admin.ModelAdmin):
    list_display = ["external_no", "project", "stage", "status", "opened_at", "standard_days_override"]
    list_filter = ["stage", "status", "is_parallel"]
    search_fields = ["external_no", "project__code", "project__name"]
    autocomplete_fields = ["project"]
    filter_horizontal = ["assigned_organizations"]
    date_hierarchy = "opened_at"
    inlines = [ApprovalItemInline]


class ItemStatusEventInline(admin.TabularInline):
    model = ItemStatusEvent
    extra = 0


class MaterialInline(admin.TabularInline):
    model = Material
    extra = 0


@admin.register(ApprovalItem)
class ApprovalItemAdmin(admin.ModelAdmin):
    form = ApprovalItemAdminForm
    raw_id_fields = ["handler"]
    list_display = ["name", "case", "department", "handler", "status", "accepted_at", "due_date", "first_overdue_on"]
    list_filter = ["status", "department"]
    search_fields = ["name", "case__external_no", "external_id"]
    readonly_fields = ["due_date", "first_overdue_on"]
    autocomplete_fields = ["department", "case"]
    inlines = [ItemStatusEventInline, MaterialInline]


@admin.register(CalendarDay)
class CalendarDayAdmin(admin.ModelAdmin):
    """An administrator's change to a day is an override: reseeding from chinesecalendar keeps it."""

    list_display = ["date", "is_workday", "name", "source"]
    list_filter = ["source", "is_workday"]
    search_fields = ["date", "name"]
    date_hierarchy = "date"
    readonly_fields = ["date", "source"]
    actions = ["revert_to_seed"]

    # Days come only with their year (PUT calendar/years/{year}, `manage.py calendar_load`), so the
    # calendar never has a gap and its horizon is the last year loaded; here a day is only changed.
    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        obj.source = CalendarDay.Source.OVERRIDE
        super().save_model(request, obj, form, change)

    @admin.action(description="Revert the selected days to the chinesecalendar values")
    def revert_to_seed(self, request, queryset):
        dates = sorted(queryset.values_list("date", flat=True))
        if not dates:
            return
        seeded = {
            day: (is_workday, name)
            for day, is_workday, name in chinesecalendar_days(start_year=dates[0].year)
            if dates[0] <= day <= dates[-1]
        }
        reverted, unknown = 0, []
        for day in dates:
            if day in seeded:
                is_workday, name = seeded[day]
                CalendarDay.objects.filter(date=day).update(is_workday=is_workday, name=name, source="seed")
                reverted += 1
            else:
                unknown.append(day)
        self.message_user(request, f"Reverted {reverted} days.")
        if unknown:
            horizon = max(seeded, default=dt.date(2004, 1, 1))
            self.message_user(
                request,
                f"{len(unknown)} days are past the installed chinesecalendar (last known {horizon}); kept as they are.",
                level=messages.WARNING,
            )


MAX_CALENDAR_FILE_BYTES = 2 * 1024 * 1024


class CalendarYearLoadForm(forms.Form):
    file = forms.FileField(
        help_text="The JSON document {year, source, holidays, workdays}, or an iCalendar (.ics) feed."
    )
    year = forms.IntegerField(required=False, help_text="For a feed of several years, or a JSON document without year.")
    source = forms.CharField(required=False, max_length=500, help_text="For a feed: the notice it comes from.")


@admin.register(CalendarYear)
class CalendarYearAdmin(admin.ModelAdmin):
    """Each year the calendar knows, read-only: a year is loaded as a whole through the calendar
    service (PUT /api/v1/calendar/years/{year} or `manage.py calendar_load FILE`), never edited here."""

    list_display = [
        "year",
        "origin",
        "source",
        "working_days",
        "holiday_days",
        "make_up_days",
        "loaded_at",
        "loaded_by",
    ]
    list_filter = ["origin"]
    fields = ["year", "origin", "source", "working_days", "holiday_ranges", "make_up_days", "loaded_at", "loaded_by"]
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_urls(self):
        load = path("load/", self.admin_site.admin_view(self.load_view), name="cases_calendaryear_load")
        return [load, *super().get_urls()]

    def load_view(self, request):
        """Upload a year: the same parsing as `calendar_load` and the same service as the API."""
        if not request.user.is_administrator:
            raise PermissionDenied
        form = CalendarYearLoadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            if upload.size > MAX_CALENDAR_FILE_BYTES:
                form.add_error("file", "A year's arrangement is a small file (at most 2 MB).")
            else:
                try:
                    year, document = document_from_file(
                        upload.read(),
                        name=upload.name,
                        year=form.cleaned_data["year"],
                        source=form.cleaned_data["source"],
                    )
                    row = calendar_year_load(year=year, document=document, by=request.user)
                except InvalidCalendarYear as error:
                    form.add_error(None, error.message)
                    for field, problems in (error.errors or {}).items():
                        for problem in problems:
                            form.add_error(None, f"{field}: {problem}")
                else:
                    self.message_user(request, f"Loaded {row.year} from {row.source}.")
                    return redirect(reverse("admin:cases_calendaryear_change", args=[row.year]))
        context = {
            **self.admin_site.each_context(request),
            "form": form,
            "opts": self.model._meta,
            "title": "Load a year's holiday arrangement",
        }
        return TemplateResponse(request, "admin/cases/calendaryear/load.html", context)

    def changelist_view(self, request, extra_context=None):
        status = calendar_status()
        if status["horizon_warning"]:
            self.message_user(request, horizon_warning_text(status), level=messages.WARNING)
        return super().changelist_view(request, extra_context)

    def get_changelist_instance(self, request):
        changelist = super().get_changelist_instance(request)
        self._summaries = calendar_year_summaries(list(changelist.result_list))
        return changelist

    def _summary(self, obj):
        summaries = getattr(self, "_summaries", {})
        if obj.year not in summaries:
            summaries = self._summaries = {**summaries, **calendar_year_summaries([obj])}
        return summaries[obj.year]

    @admin.display(description="working days")
    def working_days(self, obj):
        return self._summary(obj)["working_days"]

    @admin.display(description="holiday days")
    def holiday_days(self, obj):
        return self._summary(obj)["holiday_days"]

    @admin.display(description="holidays")
    def holiday_ranges(self, obj):
        return "; ".join(f"{h['name']} {h['start']}..{h['end']} ({h['days']})" for h in self._summary(obj)["holidays"])

    @admin.display(description="make-up workdays")
    def make_up_days(self, obj):
        return ", ".join(obj.workdays)


@admin.register(MaterialScan)
class MaterialScanAdmin(ReadOnlyAdmin):
    """Scans are written by the vehicle (sync push, REST) through their services; shown here."""

    list_display = ["id", "case", "item", "material", "content_type", "filename", "created_at", "deleted_at"]
    list_filter = ["content_type"]
    search_fields = ["id", "sha256", "filename", "case__id"]

    def get_queryset(self, request):
        # Withdrawn scans (tombstones) too: the admin shows what devices were told.
        return MaterialScan.all_objects.select_related("case", "item", "material")
