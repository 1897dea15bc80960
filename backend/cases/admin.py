import datetime as dt

from django import forms
from django.contrib import admin, messages
from django.contrib.gis.admin import GISModelAdmin
from django.core.exceptions import ValidationError

from backend.cases.codes import credit_code_problem, project_code_problem, region_code_of
from backend.cases.deadlines import chinesecalendar_days
from backend.cases.models import ApprovalCase, ApprovalItem, CalendarDay, ItemStatusEvent, Material, Project


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
        ]

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


class ApprovalItemInline(admin.TabularInline):
    model = ApprovalItem
    extra = 0
    fields = [
        "name",
        "department",
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
    list_display = ["name", "case", "department", "status", "accepted_at", "due_date", "first_overdue_on"]
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
    readonly_fields = ["source"]
    actions = ["revert_to_seed"]

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
