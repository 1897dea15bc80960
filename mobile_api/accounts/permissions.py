from rest_framework import permissions


class IsAdministratorOrReadOnly(permissions.BasePermission):
    """Reads for any signed-in user (scoped by the selector); writes for administrators."""

    message = "Only administrators may change this."

    def has_permission(self, request, view) -> bool:
        if request.method in permissions.SAFE_METHODS:
            return True
        return bool(request.user and request.user.is_authenticated and request.user.is_administrator)
