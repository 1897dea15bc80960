from django.urls import path

from mobile_api.stats import views

urlpatterns = [
    path("stats/deadlines/", views.DeadlineStatsView.as_view(), name="stats-deadlines"),
    path("stats/service/", views.ServiceStatsView.as_view(), name="stats-service"),
]
