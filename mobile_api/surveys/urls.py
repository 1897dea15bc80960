from rest_framework.routers import SimpleRouter

from mobile_api.surveys import views

router = SimpleRouter()
# API.md writes actions without a trailing slash (`surveys/{id}/submit`); accept both spellings.
router.trailing_slash = "/?"
router.register("surveys", views.SurveyViewSet, basename="survey")
router.register("survey-participants", views.SurveyParticipantViewSet, basename="survey-participant")
router.register("findings", views.FindingViewSet, basename="finding")

urlpatterns = [*router.urls]
