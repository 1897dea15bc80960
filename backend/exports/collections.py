"""What each exportable collection holds: the same records and properties as the map layers.

Every collection starts from its record type's selector (`RECORD_TYPES[…].visible_to(user=…)`),
so an export holds exactly what REST and the OGC layer show the same user; the collections are
the layers' definitions (backend.layers.definitions), which gis_layers publishes too.
"""

from dataclasses import dataclass

from django.db import connection
from django.db.models import Model

from backend.layers.definitions import LAYER_DEFINITIONS
from backend.records.registry import RECORD_TYPES


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


# The map layers' own definitions: an export holds what the layer publishes.
COLLECTIONS: dict[str, Collection] = {
    name: Collection(
        name=name,
        record_type=layer.record_type,
        properties=layer.properties,
        geometry_sql=layer.geometry_sql,
        time_sql=layer.time_sql,
        ogr_geometry_type=layer.geometry_type.upper(),
        join_site=layer.join_site,
    )
    for name, layer in LAYER_DEFINITIONS.items()
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
