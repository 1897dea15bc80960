"""GeoJSON geometry fields for every serializer of the API."""

from collections.abc import Iterable
from typing import Any

from django.contrib.gis.geos import GEOSGeometry
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from rest_framework import serializers

from backend.common.errors import InvalidGeometry
from backend.common.geometry import GEOMETRY_TYPES, WGS84, geometry_to_geojson, parse_coord_system, parse_geometry

COORD_SYSTEM_HEADER = "X-Coord-System"


def request_coord_system(request: Any) -> str:
    """The coordinate system a request declares (`X-Coord-System`); WGS84 when absent.

    An unknown value raises InvalidCoordSystem (400, code `invalid_coord_system`).
    """
    if request is None:
        return WGS84
    return parse_coord_system(request.headers.get(COORD_SYSTEM_HEADER))


class GeometryInputField(serializers.Field):
    """A GeoJSON geometry object in, a GEOS geometry (WGS84, srid 4326) out; GeoJSON back on output.

    Use it for every geometry a client sends::

        boundary = GeometryInputField(allowed_types=("Polygon", "MultiPolygon"))
        location = GeometryInputField(allowed_types=("Point",), required=False, allow_null=True)

    Input: a dict `{"type": ..., "coordinates": ...}` (or the same as JSON text, which is what a
    multipart form carries). The coordinate system comes from the request's `X-Coord-System`
    header (`wgs84`, `cgcs2000` or `gcj02`; absent = wgs84), read from `context["request"]`, so
    pass the request in the serializer context (generic views do). GCJ-02 input is shifted back
    to WGS84 with the iterated inverse; CGCS2000 is taken as WGS84.

    Checks (backend.common.geometry.parse_geometry, never repairing): GeoJSON shape, type in
    `allowed_types`, at most 100 000 vertices, finite numbers, lon within ±180 and lat within
    ±90, closed rings of at least 4 points, GEOS validity (no self-intersection). A failure is a
    field error with code `invalid_geometry`, which the problem+json handler publishes as the
    response's `code`; an unknown `X-Coord-System` is a 400 `invalid_coord_system`.

    Output: the stored geometry as a GeoJSON geometry dict in WGS84.
    """

    default_error_messages = {"invalid_geometry": "{message}"}

    def __init__(self, *, allowed_types: Iterable[str], **kwargs: Any) -> None:
        self.allowed_types = tuple(allowed_types)
        unknown = set(self.allowed_types) - set(GEOMETRY_TYPES)
        if not self.allowed_types or unknown:
            raise ValueError(f"allowed_types must be GeoJSON geometry types, got {self.allowed_types!r}")
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> GEOSGeometry:
        # Raised outside the field error: a bad header is not this field's fault.
        coord_system = request_coord_system(self.context.get("request"))
        try:
            return parse_geometry(data, allowed_types=self.allowed_types, coord_system=coord_system)
        except InvalidGeometry as error:
            raise serializers.ValidationError(error.message, code="invalid_geometry") from error

    def to_representation(self, value: GEOSGeometry | None) -> dict[str, Any] | None:
        return geometry_to_geojson(value)


class GeometryInputFieldSchema(OpenApiSerializerFieldExtension):
    """OpenAPI: a GeoJSON geometry object limited to the field's allowed types."""

    target_class = GeometryInputField

    def map_serializer_field(self, auto_schema: Any, direction: str) -> dict[str, Any]:
        return {
            "type": "object",
            "description": "GeoJSON geometry object, lon/lat. Input in the coordinate system declared by the "
            "X-Coord-System header (wgs84 | cgcs2000 | gcj02, default wgs84); stored and returned as WGS84. "
            "Invalid geometry (self-intersection, unclosed ring, out-of-range coordinates, more than "
            "100 000 vertices) is a 400 with code invalid_geometry.",
            "properties": {
                "type": {"type": "string", "enum": list(self.target.allowed_types)},
                "coordinates": {"type": "array", "items": {}},
            },
            "required": ["type", "coordinates"],
        }
