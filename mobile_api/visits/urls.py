from rest_framework.routers import SimpleRouter

from mobile_api.visits import views

router = SimpleRouter()
router.register("visits", views.VisitViewSet, basename="visit")
router.register("vehicles", views.VehicleViewSet, basename="vehicle")
router.register("booking-requests", views.BookingRequestViewSet, basename="booking-request")
router.register("service-plans", views.ServicePlanViewSet, basename="service-plan")

urlpatterns = [*router.urls]
