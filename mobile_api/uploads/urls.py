from django.urls import path, re_path

from mobile_api.uploads import views

urlpatterns = [
    path("uploads/", views.UploadCollectionView.as_view(), name="upload-list"),
    # tus clients use the Location as given; accept it with or without the trailing slash.
    re_path(
        r"^uploads/(?P<upload_id>[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})/?$",
        views.UploadDetailView.as_view(),
        name="upload-detail",
    ),
]
