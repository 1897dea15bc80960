from django.urls import path
from rest_framework.routers import SimpleRouter

from mobile_api.sync import views
from mobile_api.sync.scans import MaterialScanViewSet

router = SimpleRouter()
router.register("sync/conflicts", views.ConflictViewSet, basename="sync-conflict")
router.register("material-scans", MaterialScanViewSet, basename="material-scan")

urlpatterns = [
    path("sync/push", views.PushView.as_view(), name="sync-push"),
    path("sync/pull", views.PullView.as_view(), name="sync-pull"),
    *router.urls,
]
