from django.urls import path

from gis_layers.webmap import views

urlpatterns = [
    path("", views.MapView.as_view(), name="map"),
    path("login/", views.MapLoginView.as_view(), name="map-login"),
    path("logout/", views.MapLogoutView.as_view(), name="map-logout"),
]
