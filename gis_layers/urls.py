from django.urls import path

from gis_layers import openapi, views

urlpatterns = [
    path("ogc/", views.LandingView.as_view(), name="ogc-landing"),
    path("ogc/api", openapi.OgcApiDefinitionView.as_view(), name="ogc-api"),
    path("ogc/conformance", views.ConformanceView.as_view(), name="ogc-conformance"),
    path("ogc/collections", views.CollectionsView.as_view(), name="ogc-collections"),
    path("ogc/collections/<str:collection_id>", views.CollectionView.as_view(), name="ogc-collection"),
    path("ogc/collections/<str:collection_id>/queryables", views.QueryablesView.as_view(), name="ogc-queryables"),
    path("ogc/collections/<str:collection_id>/items", views.ItemsView.as_view(), name="ogc-items"),
    path(
        "ogc/collections/<str:collection_id>/items/<str:feature_id>",
        views.ItemView.as_view(),
        name="ogc-item",
    ),
    path("tiles/<str:layer_name>.json", views.TileJsonView.as_view(), name="tilejson"),
    path("tiles/<str:layer_name>/<int:z>/<int:x>/<int:y>.mvt", views.TileView.as_view(), name="tile"),
]
