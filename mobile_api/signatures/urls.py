from django.urls import path
from rest_framework.routers import SimpleRouter

from mobile_api.signatures import views

router = SimpleRouter()
router.register("signatures", views.SignatureViewSet, basename="signature")

urlpatterns = [
    # The inspections router's detail route (`inspections/<pk>/`, pk without dots or slashes)
    # never matches `inspections/<pk>/report.pdf`, so this route may come after it.
    path("inspections/<uuid:pk>/report.pdf", views.InspectionReportView.as_view(), name="inspection-report-pdf"),
    *router.urls,
]
