from django.contrib import admin


class ReadOnlyAdmin(admin.ModelAdmin):
    """Evidence is written by its services only (hashes, signatures, storage); the admin shows it."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
