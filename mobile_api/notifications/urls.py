from django.urls import path

from mobile_api.notifications import views

notifications = views.NotificationViewSet

urlpatterns = [
    path("notifications/", notifications.as_view({"get": "list"}), name="notification-list"),
    path("notifications/read-all", notifications.as_view({"post": "read_all"}), name="notification-read-all"),
    path("notifications/<uuid:pk>/read", notifications.as_view({"post": "read"}), name="notification-read"),
]
