from rest_framework.routers import SimpleRouter

from mobile_api.sites import views

router = SimpleRouter()
router.register("sites", views.SiteViewSet, basename="site")

urlpatterns = [*router.urls]
