from django.urls import path

from mobile_api.notifications import views

notifications = views.NotificationViewSet
supervisions = views.SupervisionViewSet

urlpatterns = [
    path("notifications/", notifications.as_view({"get": "list"}), name="notification-list"),
    path("notifications/read-all", notifications.as_view({"post": "read_all"}), name="notification-read-all"),
    path("notifications/<uuid:pk>/read", notifications.as_view({"post": "read"}), name="notification-read"),
    path("supervisions/", supervisions.as_view({"get": "list"}), name="supervision-list"),
    path("supervisions/<uuid:pk>/respond", supervisions.as_view({"post": "respond"}), name="supervision-respond"),
]
