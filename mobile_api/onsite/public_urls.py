"""Public page (no login) behind a certificate's QR code, mounted at
`path("verify/certificates/", include("mobile_api.onsite.public_urls"))`."""

from django.urls import path

from mobile_api.onsite import public_views

urlpatterns = [
    path("<uuid:certificate_id>/", public_views.certificate_verify_page, name="onsite-certificate-verify"),
]
