from django.contrib import admin

from backend.notifications.models import Notification


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    """Notices are written by the services that send them; the admin only shows them."""

    list_display = ["created_at", "kind", "recipient", "title", "day", "read_at"]
    list_filter = ["kind", "day"]
    search_fields = ["title", "subject", "recipient__username"]
    readonly_fields = [f.name for f in Notification._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
