from rest_framework.routers import SimpleRouter

from mobile_api.surveys import views

router = SimpleRouter()
router.register("surveys", views.SurveyViewSet, basename="survey")
router.register("survey-participants", views.SurveyParticipantViewSet, basename="survey-participant")
router.register("findings", views.FindingViewSet, basename="finding")

urlpatterns = [*router.urls]
