from rest_framework.routers import SimpleRouter

from mobile_api.evidence import views

router = SimpleRouter()
router.register("photos", views.PhotoViewSet, basename="photo")

urlpatterns = [*router.urls]
