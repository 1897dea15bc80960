from rest_framework.routers import SimpleRouter

from mobile_api.onsite import views

router = SimpleRouter()
router.register("onsite-items", views.OnsiteItemViewSet, basename="onsite-item")
router.register("delegations", views.DelegationViewSet, basename="delegation")

urlpatterns = [*router.urls]
