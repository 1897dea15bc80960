"""The admin site: Django's, with the login form behind the API login's failure limiter.

Without it the admin form is a way around `LOGIN_THROTTLE_RATE`, and an admin session also
works on /api/v1/. The web map's login (/map/login/) uses the same limiter.
"""

from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError

from backend.accounts.login import LoginThrottled, login_limited


class ThrottledLoginMixin:
    """Counts a failure per username and client address, shared with `POST /api/v1/auth/token`.

    While the limit is reached the password is not even checked, so the right one does not
    log in either; `retry_after` tells the site to answer 429.
    """

    retry_after: int | None = None

    def clean(self):
        try:
            return login_limited(
                self.request,
                username=self.cleaned_data.get("username") or "",
                verify=super().clean,
                is_failure=lambda error: isinstance(error, ValidationError),
            )
        except LoginThrottled as throttled:
            self.retry_after = throttled.retry_after
            raise ValidationError(
                "Too many failed logins for this username from your address. Try again in %(seconds)d seconds.",
                code="throttled",
                params={"seconds": self.retry_after},
            ) from None


class ThrottledAdminAuthenticationForm(ThrottledLoginMixin, AdminAuthenticationForm):
    pass


class ThrottledAuthenticationForm(ThrottledLoginMixin, AuthenticationForm):
    """Any active user (the web map), not only staff."""


class FieldApprovalAdminSite(admin.AdminSite):
    login_form = ThrottledAdminAuthenticationForm

    def login(self, request, extra_context=None):
        response = super().login(request, extra_context)
        form = (getattr(response, "context_data", None) or {}).get("form")
        retry_after = getattr(form, "retry_after", None)
        if retry_after is not None:
            response.status_code = 429
            response["Retry-After"] = str(retry_after)
        return response
