from rest_framework.routers import SimpleRouter

from mobile_api.meetings import views

router = SimpleRouter()
# Actions without a trailing slash too (`meetings/{id}/hold`), as the other record routes.
router.trailing_slash = "/?"
router.register("meetings", views.MeetingViewSet, basename="meeting")
router.register("meeting-participants", views.MeetingParticipantViewSet, basename="meeting-participant")
router.register("meeting-decisions", views.MeetingDecisionViewSet, basename="meeting-decision")

urlpatterns = [*router.urls]
