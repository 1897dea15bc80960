from django.urls import path
from rest_framework.routers import SimpleRouter

from mobile_api.accounts import views

router = SimpleRouter()
router.register("orgs", views.OrganizationViewSet, basename="organization")
router.register("users", views.UserViewSet, basename="user")

urlpatterns = [
    path("auth/token", views.TokenView.as_view(), name="auth-token"),
    path("auth/logout", views.LogoutView.as_view(), name="auth-logout"),
    *router.urls,
]
