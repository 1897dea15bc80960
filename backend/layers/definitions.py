"""What each map layer publishes: its record type, properties, geometry and time, in one place.

The OGC collections and vector tiles (gis_layers.layers) and the exports (backend.exports) both
read these definitions, so a file exported from a layer has the layer's properties.
"""

from dataclasses import dataclass

from django.db.models import Model

from backend.records.registry import RECORD_TYPES


@dataclass(frozen=True)
class LayerDefinition:
    name: str
    record_type: str
    title: str
    description: str
    # Published properties: model field names (foreign keys as their attname, e.g. case_id).
    properties: tuple[str, ...]
    # SQL over alias `t` (the record table) and, when `join_site`, `s` (its site).
    geometry_sql: str
    time_sql: str
    # "Point" or "MultiPolygon": one geometry type per layer (GDAL, QGIS and shapefiles need it).
    geometry_type: str
    # The geometry column the GiST index covers (geometry_sql is built from it).
    geometry_column: str = "location"
    join_site: bool = False
    # Publish every geometry as its Multi type, so the layer has one geometry type (GDAL and
    # QGIS type a layer mixing Polygon and MultiPolygon as Unknown).
    is_multi: bool = False
    # The properties its vector tiles carry, when fewer than `properties`: what the web map
    # styles, filters and labels by (gis_layers/static/map: status, case_id, the time) and a
    # desktop style classifies by. A feature's other properties are one OGC item away (the
    # map's popup reads the item). None: all of `properties`.
    tile_properties: tuple[str, ...] | None = None

    @property
    def model(self) -> type[Model]:
        return RECORD_TYPES[self.record_type].model

    @property
    def tiled_properties(self) -> tuple[str, ...]:
        """The properties of the layer's vector tiles (and their TileJSON fields)."""
        return self.properties if self.tile_properties is None else self.tile_properties


COMMON = ("case_id", "version", "created_at", "updated_at", "is_locked")

LAYER_DEFINITIONS: dict[str, LayerDefinition] = {
    definition.name: definition
    for definition in [
        LayerDefinition(
            name="sites",
            record_type="site",
            title="红线地块 Sites",
            description="Red-line boundaries of projects (polygons).",
            properties=("project_id", "name", "address", "area_m2", *COMMON),
            geometry_sql="t.boundary",
            time_sql="t.created_at",
            geometry_type="MultiPolygon",
            geometry_column="boundary",
            is_multi=True,
        ),
        LayerDefinition(
            name="surveys",
            record_type="survey",
            title="联合踏勘 Surveys",
            description="Joint site surveys at their meeting point; time is the scheduled time.",
            properties=("site_id", "scheduled_at", "started_at", "ended_at", "status", "conclusion", *COMMON),
            geometry_sql="t.location",
            time_sql="t.scheduled_at",
            geometry_type="Point",
        ),
        LayerDefinition(
            name="findings",
            record_type="finding",
            title="问题清单 Findings",
            description="Problems found on surveys.",
            properties=(
                "survey_id",
                "description",
                "responsible_department_id",
                "due_date",
                "status",
                "resolved_at",
                *COMMON,
            ),
            geometry_sql="t.location",
            time_sql="t.created_at",
            geometry_type="Point",
        ),
        LayerDefinition(
            name="utility_points",
            record_type="utility_point",
            title="接入点 Utility access points",
            description="Utility connection points (water, power, gas, heat, telecom …).",
            properties=("utility_type", "company_id", "request_id", "name", "status", "note", *COMMON),
            geometry_sql="t.location",
            time_sql="t.created_at",
            geometry_type="Point",
            # The densest layer (a million points in a city's network): its z14 tile carries
            # ~400 of them, and each property formatted per point is time in every tile.
            tile_properties=("utility_type", "company_id", "name", "status", "case_id", "created_at"),
        ),
        LayerDefinition(
            name="inspections",
            record_type="inspection",
            title="联合验收 Inspections",
            description="Joint acceptance inspections at their location, else a point on their site's red line; "
            "time is the scheduled time, else the creation time.",
            properties=("site_id", "stage", "status", "scheduled_at", "remarks", *COMMON),
            geometry_sql="COALESCE(t.location, ST_PointOnSurface(s.boundary))",
            time_sql="COALESCE(t.scheduled_at, t.created_at)",
            geometry_type="Point",
            join_site=True,
        ),
        LayerDefinition(
            name="photos",
            record_type="photo",
            title="照片 Photos",
            description="Geotagged photos; time is when taken, else when stored.",
            properties=(
                "record_type",
                "record_id",
                "width",
                "height",
                "taken_at",
                "heading",
                "location_source",
                "within_site",
                "distance_to_site_m",
                *COMMON,
            ),
            geometry_sql="t.location",
            time_sql="COALESCE(t.taken_at, t.created_at)",
            geometry_type="Point",
        ),
    ]
}
