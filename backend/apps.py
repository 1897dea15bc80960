from django.contrib.admin.apps import AdminConfig


class FieldApprovalAdminConfig(AdminConfig):
    """Django's admin, on a site whose login form is throttled (see backend/admin_site.py)."""

    default_site = "backend.admin_site.FieldApprovalAdminSite"
