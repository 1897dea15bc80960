from rest_framework.routers import SimpleRouter

from mobile_api.acceptance import views

router = SimpleRouter()
router.register("inspections", views.InspectionViewSet, basename="inspection")
router.register("inspection-items", views.InspectionItemViewSet, basename="inspection-item")
router.register("rectifications", views.RectificationViewSet, basename="rectification")

urlpatterns = [*router.urls]
