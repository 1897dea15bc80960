from rest_framework.routers import SimpleRouter

from mobile_api.onsite import views

router = SimpleRouter()
router.register("onsite-items", views.OnsiteItemViewSet, basename="onsite-item")
router.register("delegations", views.DelegationViewSet, basename="delegation")
router.register("onsite-intakes", views.OnsiteIntakeViewSet, basename="onsite-intake")
router.register("onsite-decisions", views.OnsiteDecisionViewSet, basename="onsite-decision")
router.register("certificates", views.CertificateViewSet, basename="certificate")

urlpatterns = [*router.urls]
