"""What each exportable collection holds: the same records and properties as the map layers.

Every collection starts from its record type's selector (`RECORD_TYPES[…].visible_to(user=…)`),
so an export holds exactly what REST and the OGC layer show the same user. The list mirrors
gis_layers/layers.py, which the domain may not import.
"""

from dataclasses import dataclass

from django.db import connection
from django.db.models import Model

from backend.common.records import RECORD_TYPES


@dataclass(frozen=True)
class Collection:
    name: str
    record_type: str
    properties: tuple[str, ...]
    # SQL over alias `t` (the record table) and, when `join_site`, `s` (its site).
    geometry_sql: str
    time_sql: str
    # What ogr2ogr writes: one geometry type per layer, which shapefiles need.
    ogr_geometry_type: str
    join_site: bool = False

    @property
    def model(self) -> type[Model]:
        return RECORD_TYPES[self.record_type].model


COMMON = ("case_id", "version", "created_at", "updated_at", "is_locked")

COLLECTIONS: dict[str, Collection] = {
    c.name: c
    for c in [
        Collection(
            name="sites",
            record_type="site",
            properties=("project_id", "name", "address", "area_m2", *COMMON),
            geometry_sql="t.boundary",
            time_sql="t.created_at",
            ogr_geometry_type="MULTIPOLYGON",
        ),
        Collection(
            name="surveys",
            record_type="survey",
            properties=("site_id", "scheduled_at", "started_at", "ended_at", "status", "conclusion", *COMMON),
            geometry_sql="t.location",
            time_sql="t.scheduled_at",
            ogr_geometry_type="POINT",
        ),
        Collection(
            name="findings",
            record_type="finding",
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
            ogr_geometry_type="POINT",
        ),
        Collection(
            name="utility_points",
            record_type="utility_point",
            properties=("utility_type", "company_id", "request_id", "name", "status", "note", *COMMON),
            geometry_sql="t.location",
            time_sql="t.created_at",
            ogr_geometry_type="POINT",
        ),
        Collection(
            name="inspections",
            record_type="inspection",
            properties=("site_id", "stage", "status", "scheduled_at", "remarks", *COMMON),
            geometry_sql="COALESCE(t.location, ST_PointOnSurface(s.boundary))",
            time_sql="COALESCE(t.scheduled_at, t.created_at)",
            ogr_geometry_type="POINT",
            join_site=True,
        ),
        Collection(
            name="photos",
            record_type="photo",
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
            ogr_geometry_type="POINT",
        ),
    ]
}


def collection_from_sql(collection: Collection) -> str:
    quote = connection.ops.quote_name
    sql = f"{quote(collection.model._meta.db_table)} t"
    if collection.join_site:
        sql += f" LEFT JOIN {quote(RECORD_TYPES['site'].model._meta.db_table)} s ON s.id = t.site_id"
    return sql


def collection_columns_sql(collection: Collection) -> str:
    """The published properties, uuids as text (no file format has a uuid type)."""
    quote = connection.ops.quote_name
    fields = {f.attname: f for f in collection.model._meta.concrete_fields}
    columns = ["t.id::text AS id"]
    for name in collection.properties:
        field = fields[name]
        target = field.target_field if field.is_relation else field
        cast = "::text" if target.get_internal_type() == "UUIDField" else ""
        columns.append(f"t.{quote(field.column)}{cast} AS {quote(name)}")
    return ", ".join(columns)
