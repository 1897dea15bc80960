"""Geometry input shared by every record app: parse, check, convert to WGS84.

Clients send GeoJSON geometry objects in the coordinate system they declare
(`X-Coord-System: wgs84 | cgcs2000 | gcj02`); we store WGS84 (EPSG:4326).

Invalid input is refused, never repaired: a self-intersecting red line that the
server silently "fixed" (ST_MakeValid / buffer(0)) would be a different red line
than the one the surveyor drew. So nothing here repairs, and nothing on the
request path may call ST_MakeValid or buffer(0).

Order of the checks matters for cost: the structure and the vertex count are
checked on the raw lists first (a 10-million-vertex body is refused after counting
list lengths, before any geometry object is built), then each position, then the
geometry is built once with shapely and checked with GEOS' validity rules.
"""

import itertools
import json
import math
import re
import struct
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import shapely
from django.contrib.gis.geos import GEOSGeometry

from backend.common.errors import InvalidGeometry, ValidationFailed

MAX_VERTICES = 100_000

WGS84 = "wgs84"
CGCS2000 = "cgcs2000"
GCJ02 = "gcj02"
COORD_SYSTEMS = (WGS84, CGCS2000, GCJ02)

# Nesting depth of positions inside `coordinates`, per GeoJSON type.
_DEPTH = {"Point": 0, "MultiPoint": 1, "LineString": 1, "MultiLineString": 2, "Polygon": 2, "MultiPolygon": 3}
GEOMETRY_TYPES = tuple(_DEPTH)

POLYGONAL = ("Polygon", "MultiPolygon")
POINT = ("Point",)


class InvalidCoordSystem(ValidationFailed):
    code = "invalid_coord_system"


def parse_coord_system(value: str | None) -> str:
    """The declared input coordinate system; absent means WGS84."""
    if value is None or not value.strip():
        return WGS84
    normalised = value.strip().lower()
    if normalised not in COORD_SYSTEMS:
        raise InvalidCoordSystem(
            f"Unknown coordinate system {value.strip()[:40]!r}; use one of: {', '.join(COORD_SYSTEMS)}."
        )
    return normalised


# --- GCJ-02 ------------------------------------------------------------------------------------
# GCJ-02 is the obfuscated datum Chinese map SDKs (Amap, Tencent) report: WGS84 plus a
# deterministic, non-linear offset of a few hundred metres inside China. It is not a PROJ
# CRS. The forward formula below is the published one (as in "eviltransform"); the inverse
# has no closed form, so it is found by fixed-point iteration on the forward formula.

_GCJ_A = 6378245.0  # Krasovsky 1940 semi-major axis, as used by the published formula
_GCJ_EE = 0.00669342162296594323  # its first eccentricity squared
# Stop iterating when forward(result) is this close to the input: 1e-9° is about 0.1 mm,
# far inside the 1e-7° (≈ 1 cm) the contract needs.
GCJ02_INVERSE_TOLERANCE_DEG = 1e-9
_GCJ_MAX_ITERATIONS = 30


def _outside_china(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    # The published formula applies the offset only inside this rough box around China.
    return (lon < 72.004) | (lon > 137.8347) | (lat < 0.8293) | (lat > 55.8271)


def _gcj_offset(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = lon - 105.0
    y = lat - 35.0
    sqrt_abs_x = np.sqrt(np.abs(x))
    d_lat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sqrt_abs_x
    d_lat += (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    d_lat += (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
    d_lat += (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    d_lon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sqrt_abs_x
    d_lon += (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    d_lon += (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
    d_lon += (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    rad_lat = lat / 180.0 * np.pi
    magic = 1.0 - _GCJ_EE * np.sin(rad_lat) ** 2
    sqrt_magic = np.sqrt(magic)
    d_lat = (d_lat * 180.0) / ((_GCJ_A * (1.0 - _GCJ_EE)) / (magic * sqrt_magic) * np.pi)
    d_lon = (d_lon * 180.0) / (_GCJ_A / sqrt_magic * np.cos(rad_lat) * np.pi)
    outside = _outside_china(lon, lat)
    return np.where(outside, 0.0, d_lon), np.where(outside, 0.0, d_lat)


def wgs84_to_gcj02_array(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    d_lon, d_lat = _gcj_offset(lon, lat)
    return lon + d_lon, lat + d_lat


def gcj02_to_wgs84_array(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Iterated inverse: find w with forward(w) == g, starting from w = g."""
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    w_lon, w_lat = lon.copy(), lat.copy()
    for _ in range(_GCJ_MAX_ITERATIONS):
        f_lon, f_lat = wgs84_to_gcj02_array(w_lon, w_lat)
        e_lon, e_lat = f_lon - lon, f_lat - lat
        w_lon, w_lat = w_lon - e_lon, w_lat - e_lat
        if e_lon.size == 0 or max(np.max(np.abs(e_lon)), np.max(np.abs(e_lat))) < GCJ02_INVERSE_TOLERANCE_DEG:
            break
    return w_lon, w_lat


def wgs84_to_gcj02(lon: float, lat: float) -> tuple[float, float]:
    g_lon, g_lat = wgs84_to_gcj02_array(np.array([lon]), np.array([lat]))
    return float(g_lon[0]), float(g_lat[0])


def gcj02_to_wgs84(lon: float, lat: float) -> tuple[float, float]:
    w_lon, w_lat = gcj02_to_wgs84_array(np.array([lon]), np.array([lat]))
    return float(w_lon[0]), float(w_lat[0])


def _to_wgs84_coords(coords: np.ndarray, coord_system: str) -> np.ndarray:
    """shapely.transform callback: an (n, 2) array in `coord_system` → WGS84."""
    if coord_system == GCJ02:
        lon, lat = gcj02_to_wgs84_array(coords[:, 0], coords[:, 1])
        return np.column_stack([lon, lat])
    # WGS84 as is. CGCS2000 (EPSG:4490) and WGS84 differ by centimetres (same
    # ellipsoid up to 1e-4 m in the semi-minor axis, frames a few cm apart), far below
    # survey precision of a red line or a tablet GPS fix, so they are treated as equal.
    return coords


# --- parsing and checks -----------------------------------------------------------------------


def _fail(message: str) -> InvalidGeometry:
    return InvalidGeometry(message)


def _count_vertices(coordinates: Any, depth: int, path: str) -> int:
    """Vertex count from list lengths only; refuses malformed nesting on the way."""
    if not isinstance(coordinates, list | tuple):
        raise _fail(f"coordinates{path} must be an array.")
    if depth == 0:
        return 1
    if depth == 1:
        return len(coordinates)
    total = 0
    for index, part in enumerate(coordinates):
        total += _count_vertices(part, depth - 1, f"{path}[{index}]")
        if total > MAX_VERTICES:
            break
    return total


def _check_position(position: Any, path: str) -> None:
    if not isinstance(position, list | tuple) or len(position) not in (2, 3):
        raise _fail(f"position {path} must be an array of 2 numbers [lon, lat] (optionally a third, height).")
    for value in position:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _fail(f"position {path} contains a non-number: {value!r:.40}.")
        # Not math.isfinite(value) for ints: a huge JSON integer would overflow the float cast.
        if isinstance(value, float) and not math.isfinite(value):
            raise _fail(f"position {path} contains a non-finite number ({value}).")
    lon, lat = position[0], position[1]
    if not -180.0 <= lon <= 180.0:
        raise _fail(f"longitude {str(lon)[:40]} at {path} is outside -180..180.")
    if not -90.0 <= lat <= 90.0:
        raise _fail(f"latitude {str(lat)[:40]} at {path} is outside -90..90.")


def _positions_array(positions: Sequence[Any], path: str) -> np.ndarray:
    """Positions → an (n, 2) float array (height dropped), or InvalidGeometry naming the first bad one.

    The fast path checks a whole list with C-level passes (100 000 vertices in milliseconds);
    only when it finds a problem does the slow path walk the positions to name it.
    """
    if len(positions) == 0:
        return np.empty((0, 2))
    if all(type(p) is list and 2 <= len(p) <= 3 for p in positions) and set(
        map(type, itertools.chain.from_iterable(positions))
    ) <= {int, float}:
        try:
            if len(set(map(len, positions))) == 1:
                array = np.array(positions, dtype=float)[:, :2]
            else:
                array = np.array([p[:2] for p in positions], dtype=float)
        except OverflowError:
            array = None
        if (
            array is not None
            and np.isfinite(array).all()
            and (np.abs(array[:, 0]) <= 180.0).all()
            and (np.abs(array[:, 1]) <= 90.0).all()
        ):
            return array
    for index, position in enumerate(positions):
        _check_position(position, f"{path}[{index}]")
    return np.array([p[:2] for p in positions], dtype=float)


def _ring(positions: Sequence[Any], path: str, label: str) -> shapely.LinearRing:
    array = _positions_array(positions, path)
    if len(array) < 4:
        raise _fail(f"{label} has {len(array)} points; a ring needs at least 4 (the last repeating the first).")
    if not (array[0] == array[-1]).all():
        first = f"({positions[0][0]} {positions[0][1]})"
        last = f"({positions[-1][0]} {positions[-1][1]})"
        raise _fail(f"{label} is not closed: it starts at {first} but ends at {last}.")
    return shapely.linearrings(array)


def _polygon(rings: Sequence[Any], path: str, label: str) -> shapely.Polygon:
    if len(rings) == 0:
        raise _fail(f"{label} has no rings.")
    built = []
    for index, ring in enumerate(rings):
        ring_label = f"ring {index}" if label == "polygon" else f"{label} ring {index}"
        built.append(_ring(ring, f"{path}[{index}]", ring_label))
    return shapely.polygons(built[0], holes=built[1:] or None)


def _line(positions: Sequence[Any], path: str, label: str) -> shapely.LineString:
    array = _positions_array(positions, path)
    if len(array) < 2:
        raise _fail(f"{label} needs at least 2 points.")
    return shapely.linestrings(array)


def _build(geometry_type: str, coordinates: Any) -> shapely.Geometry:
    """Check every position, ring and part, and build the shapely geometry from arrays."""
    if geometry_type == "Point":
        _check_position(coordinates, "coordinates")
        return shapely.points(np.array(coordinates[:2], dtype=float))
    if geometry_type == "MultiPoint":
        return shapely.multipoints(_positions_array(coordinates, "coordinates"))
    if geometry_type == "LineString":
        return _line(coordinates, "coordinates", "a LineString")
    if geometry_type == "MultiLineString":
        return shapely.multilinestrings(
            [_line(line, f"coordinates[{index}]", f"line {index}") for index, line in enumerate(coordinates)]
        )
    if geometry_type == "Polygon":
        return _polygon(coordinates, "coordinates", "polygon")
    return shapely.multipolygons(
        [_polygon(polygon, f"coordinates[{index}]", f"polygon {index}") for index, polygon in enumerate(coordinates)]
    )


_REASON = re.compile(r"^(?P<reason>[^\[]+)\[(?P<where>[^\]]*)\]$")


def _explain(reason: str) -> str:
    """GEOS' "Self-intersection[120.1 35.9]" → "self-intersection at (120.1 35.9)"."""
    match = _REASON.match(reason.strip())
    if not match:
        return reason
    text = match["reason"].strip()
    return f"{text[:1].lower()}{text[1:]} at ({match['where'].strip()})"


def _check_valid(geometry: shapely.Geometry, *, suffix: str = "") -> None:
    if not shapely.is_valid(geometry):
        raise _fail(f"invalid geometry: {_explain(shapely.is_valid_reason(geometry))}{suffix}.")


_POINT_WKB = struct.Struct("<BIdd")


def _plain_point(value: dict, allowed: tuple[str, ...]) -> GEOSGeometry | None:
    """The common case without shapely: a WGS84/CGCS2000 GeoJSON Point whose coordinates are a
    list of 2 or 3 finite plain ints/floats with lon in -180..180 and lat in -90..90.

    Such a point passes every check of the general path (a finite point is never empty or
    invalid), which would give the WKB written here: little-endian, type 1 (2D Point), the two
    coordinates as doubles (height dropped). Anything else returns None and takes the general
    path, so every error message stays that path's.
    """
    if value.get("type") != "Point" or "Point" not in allowed:
        return None
    coordinates = value.get("coordinates")
    if type(coordinates) is not list or not 2 <= len(coordinates) <= 3:
        return None
    for item in coordinates:
        kind = type(item)
        if kind is float:
            if not math.isfinite(item):
                return None
        elif kind is not int:
            return None
    lon, lat = coordinates[0], coordinates[1]
    if not (-180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0):
        return None
    return GEOSGeometry(memoryview(_POINT_WKB.pack(1, 1, float(lon), float(lat))), srid=4326)


def parse_geometry(
    value: Any,
    *,
    allowed_types: Iterable[str],
    coord_system: str = WGS84,
) -> GEOSGeometry:
    """A GeoJSON geometry object (dict or JSON text) → a valid GEOS geometry in WGS84 (srid 4326).

    `allowed_types` are the GeoJSON types the field takes, e.g. ("Polygon", "MultiPolygon")
    for a red line, ("Point",) for a location. `coord_system` is one of COORD_SYSTEMS (see
    parse_coord_system). Raises InvalidGeometry (400, code invalid_geometry) with a specific
    message; never repairs the input.
    """
    allowed = tuple(allowed_types)
    coord_system = parse_coord_system(coord_system)
    if coord_system != GCJ02 and type(value) is dict:
        point = _plain_point(value, allowed)
        if point is not None:
            return point
    if isinstance(value, str | bytes):
        try:
            value = json.loads(value)
        except (ValueError, UnicodeDecodeError, RecursionError) as error:
            raise _fail(f"geometry is not valid JSON: {error}.") from error
    if not isinstance(value, dict):
        raise _fail("geometry must be a GeoJSON geometry object with 'type' and 'coordinates'.")
    geometry_type = value.get("type")
    if not isinstance(geometry_type, str) or geometry_type not in GEOMETRY_TYPES:
        raise _fail(f"unsupported geometry type {geometry_type!r:.40}; expected one of: {', '.join(allowed)}.")
    if geometry_type not in allowed:
        raise _fail(f"geometry type {geometry_type} is not allowed here; expected one of: {', '.join(allowed)}.")
    if "coordinates" not in value:
        raise _fail("geometry has no 'coordinates'.")
    coordinates = value["coordinates"]
    depth = _DEPTH[geometry_type]

    vertices = _count_vertices(coordinates, depth, "")
    if vertices > MAX_VERTICES:
        raise _fail(f"geometry has more than {MAX_VERTICES} vertices.")
    if vertices == 0:
        raise _fail("geometry is empty.")
    try:
        geometry = _build(geometry_type, coordinates)
    except (ValueError, TypeError, shapely.errors.GEOSException) as error:
        # The checks in _build should leave nothing for shapely to refuse; never a 500 if they do.
        raise _fail(f"malformed coordinates: {error}.") from error
    if geometry.is_empty:
        raise _fail("geometry is empty.")
    # Validity in the client's own coordinates, so the reported location is one it drew.
    _check_valid(geometry)

    if coord_system == GCJ02:
        geometry = shapely.transform(geometry, lambda coords: _to_wgs84_coords(coords, coord_system))
        # The shift is smooth but not rigid: check again in the stored coordinates.
        _check_valid(geometry, suffix=" after conversion from GCJ-02")
        min_lon, min_lat, max_lon, max_lat = shapely.bounds(geometry)
        if min_lon < -180 or max_lon > 180 or min_lat < -90 or max_lat > 90:
            raise _fail("geometry falls outside -180..180 / -90..90 after conversion from GCJ-02.")
    return GEOSGeometry(memoryview(shapely.to_wkb(geometry)), srid=4326)


def geometry_to_geojson(geometry: GEOSGeometry | None) -> dict[str, Any] | None:
    """A stored geometry as a GeoJSON geometry dict (WGS84)."""
    if geometry is None:
        return None
    return json.loads(geometry.json)
