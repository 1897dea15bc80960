from django.urls import path

from mobile_api.exports import views

urlpatterns = [
    path("exports/", views.ExportListView.as_view(), name="export-list"),
    path("exports/<uuid:export_id>/", views.ExportDetailView.as_view(), name="export-detail"),
    path("exports/<uuid:export_id>/file", views.ExportFileView.as_view(), name="export-file"),
    path("imports/", views.ImportListView.as_view(), name="import-list"),
    path("imports/<uuid:import_id>/", views.ImportDetailView.as_view(), name="import-detail"),
    path("imports/<uuid:import_id>/commit", views.ImportCommitView.as_view(), name="import-commit"),
]
