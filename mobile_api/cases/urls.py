from django.urls import path, re_path
from rest_framework.routers import SimpleRouter

from mobile_api.cases import views
from mobile_api.cases.worklist import PromiseWorklistViewSet, WorklistViewSet

router = SimpleRouter()
router.register("projects", views.ProjectViewSet, basename="project")
router.register("cases", views.CaseViewSet, basename="case")

items = views.CaseItemViewSet
worklist = WorklistViewSet

urlpatterns = [
    path("items/", worklist.as_view({"get": "list"}), name="item-worklist"),
    path("promises/", PromiseWorklistViewSet.as_view({"get": "list"}), name="promise-worklist"),
    re_path(r"^cases/by-external/(?P<external_no>[^/]{1,64})$", views.CaseUpsertView.as_view(), name="case-upsert"),
    re_path(r"^cases/by-external/(?P<external_no>[^/]{1,64})/$", views.CaseUpsertTrailingSlashView.as_view()),
    path("cases/<uuid:case_id>/items/", items.as_view({"get": "list"}), name="case-item-list"),
    path("cases/<uuid:case_id>/items/<uuid:pk>/", items.as_view({"get": "retrieve"}), name="case-item-detail"),
    path(
        "cases/<uuid:case_id>/items/<uuid:pk>/status",
        items.as_view({"post": "change_status"}),
        name="case-item-status",
    ),
    *router.urls,
]
