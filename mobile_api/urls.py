"""`/api/v1/`: each area of the client contract keeps its own routes."""

from django.urls import include, path

from mobile_api.timeline import CaseTimelineView

app_name = "api"

urlpatterns = [
    path("cases/<uuid:case_id>/timeline/", CaseTimelineView.as_view(), name="case-timeline"),
    path("", include("mobile_api.accounts.urls")),
    path("", include("mobile_api.cases.urls")),
    path("", include("mobile_api.calendar.urls")),
    path("", include("mobile_api.notifications.urls")),
    path("", include("mobile_api.sites.urls")),
    path("", include("mobile_api.surveys.urls")),
    path("", include("mobile_api.utilities.urls")),
    path("", include("mobile_api.acceptance.urls")),
    path("", include("mobile_api.visits.urls")),
    path("", include("mobile_api.evidence.urls")),
    path("", include("mobile_api.signatures.urls")),
    path("", include("mobile_api.uploads.urls")),
    path("", include("mobile_api.sync.urls")),
    path("", include("mobile_api.exports.urls")),
    path("", include("mobile_api.onsite.urls")),
    path("", include("mobile_api.meetings.urls")),
    path("", include("mobile_api.stats.urls")),
    path("", include("mobile_api.webhooks.urls")),
]
