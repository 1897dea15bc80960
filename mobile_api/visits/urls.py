from rest_framework.routers import SimpleRouter

from mobile_api.visits import views

router = SimpleRouter()
router.register("visits", views.VisitViewSet, basename="visit")
router.register("vehicles", views.VehicleViewSet, basename="vehicle")

urlpatterns = [*router.urls]
