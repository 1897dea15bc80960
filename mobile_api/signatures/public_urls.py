"""Public pages (no login), mounted at the site root: `path("verify/", include("mobile_api.signatures.public_urls"))`."""

from django.urls import path

from mobile_api.signatures import public_views

urlpatterns = [
    path(
        "<slug:record_type>/<uuid:record_id>/<str:content_hash>/",
        public_views.document_verify_page,
        name="signature-document-verify",
    ),
]
