from rest_framework.routers import SimpleRouter

from mobile_api.utilities import views

router = SimpleRouter()
router.register("utility-applications", views.UtilityApplicationViewSet, basename="utility-application")
router.register("utility-requests", views.UtilityRequestViewSet, basename="utility-request")
router.register("utility-points", views.UtilityPointViewSet, basename="utility-point")

urlpatterns = [*router.urls]
