"""Vehicles are managed here; visits, positions, booking requests and service plans are shown
read-only (their writes go through backend.visits.services and backend.visits.bookings, which
version, audit, clash-check and deduplicate them)."""

from django.contrib import admin
from django.contrib.gis.admin import GISModelAdmin

from backend.common.admin_readonly import ReadOnlyAdmin
from backend.visits.models import BookingRequest, ServicePlan, Vehicle, VehiclePosition, Visit


@admin.register(Vehicle)
class VehicleAdmin(admin.ModelAdmin):
    list_display = ["plate", "name", "team", "is_active"]
    list_filter = ["is_active", "team"]
    search_fields = ["plate", "name"]
    autocomplete_fields = ["team"]


@admin.register(Visit)
class VisitAdmin(ReadOnlyAdmin):
    list_display = [
        "scheduled_for",
        "scheduled_until",
        "vehicle",
        "case",
        "status",
        "booked_via",
        "started_at",
        "ended_at",
    ]
    list_filter = ["status", "booked_via", "vehicle"]
    search_fields = ["case__external_no", "vehicle__plate", "remarks"]
    list_select_related = ["vehicle", "case"]
    date_hierarchy = "scheduled_for"


@admin.register(VehiclePosition)
class VehiclePositionAdmin(ReadOnlyAdmin, GISModelAdmin):
    list_display = ["vehicle", "recorded_at", "speed", "heading", "accuracy", "received_at"]
    list_filter = ["vehicle"]
    list_select_related = ["vehicle"]
    date_hierarchy = "recorded_at"
    # Millions of rows: never count them for the paginator.
    show_full_result_count = False


@admin.register(BookingRequest)
class BookingRequestAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "case", "channel", "status", "visit", "decided_at"]
    list_filter = ["status", "channel"]
    search_fields = ["case__external_no", "contact", "remarks"]
    list_select_related = ["case", "visit"]
    date_hierarchy = "created_at"


@admin.register(ServicePlan)
class ServicePlanAdmin(ReadOnlyAdmin):
    list_display = ["month", "case", "vehicle", "duration_minutes", "created_at"]
    list_filter = ["vehicle"]
    search_fields = ["case__external_no"]
    list_select_related = ["case", "vehicle"]
