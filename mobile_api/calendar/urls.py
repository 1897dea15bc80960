from django.urls import path

from mobile_api.calendar import views

urlpatterns = [
    path("calendar/years/", views.CalendarYearListView.as_view(), name="calendar-year-list"),
    path("calendar/years/<int:year>", views.CalendarYearView.as_view(), name="calendar-year"),
    path("calendar/years/<int:year>/", views.CalendarYearTrailingSlashView.as_view()),
]
