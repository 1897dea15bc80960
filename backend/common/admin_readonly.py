from django.contrib import admin


class ReadOnlyAdmin(admin.ModelAdmin):
    """For records written only through their services (locks, hashes, audit): the admin shows them."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
