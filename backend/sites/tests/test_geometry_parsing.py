"""backend.common.geometry.parse_geometry: refuse, never repair."""

import json

import pytest

from backend.common.errors import InvalidGeometry
from backend.common.geometry import POINT, POLYGONAL, InvalidCoordSystem, parse_coord_system, parse_geometry

SQUARE = [[120.17, 35.96], [120.18, 35.96], [120.18, 35.97], [120.17, 35.97], [120.17, 35.96]]


def refusal(value, allowed=POLYGONAL, coord_system="wgs84") -> str:
    with pytest.raises(InvalidGeometry) as caught:
        parse_geometry(value, allowed_types=allowed, coord_system=coord_system)
    assert caught.value.code == "invalid_geometry"
    assert caught.value.status == 400
    return caught.value.message


def test_valid_polygon_is_returned_unchanged_in_srid_4326():
    geometry = parse_geometry({"type": "Polygon", "coordinates": [SQUARE]}, allowed_types=POLYGONAL)
    assert geometry.srid == 4326
    assert geometry.geom_type == "Polygon"
    assert [list(p) for p in geometry.coords[0]] == SQUARE


def test_json_text_is_accepted_like_a_dict():
    geometry = parse_geometry(json.dumps({"type": "Point", "coordinates": [120.17, 35.96]}), allowed_types=POINT)
    assert geometry.coords == (120.17, 35.96)


def test_height_is_dropped():
    geometry = parse_geometry({"type": "Point", "coordinates": [120.17, 35.96, 12.5]}, allowed_types=POINT)
    assert geometry.coords == (120.17, 35.96)
    assert geometry.hasz is False


def test_bowtie_is_refused_with_the_crossing_point():
    bowtie = [[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]
    assert refusal({"type": "Polygon", "coordinates": [bowtie]}) == "invalid geometry: self-intersection at (0.5 0.5)."


def test_unclosed_ring_is_refused():
    message = refusal({"type": "Polygon", "coordinates": [SQUARE[:-1]]})
    assert message == "ring 0 is not closed: it starts at (120.17 35.96) but ends at (120.17 35.97)."


def test_ring_with_three_points_is_refused():
    message = refusal({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [0, 0]]]})
    assert message == "ring 0 has 3 points; a ring needs at least 4 (the last repeating the first)."


def test_overlapping_multipolygon_parts_are_refused():
    first = [[0, 0], [2, 0], [2, 2], [0, 2], [0, 0]]
    second = [[1, 1], [3, 1], [3, 3], [1, 3], [1, 1]]
    message = refusal({"type": "MultiPolygon", "coordinates": [[first], [second]]})
    assert message == "invalid geometry: self-intersection at (1 2)."


def test_unclosed_ring_in_second_polygon_names_it():
    message = refusal({"type": "MultiPolygon", "coordinates": [[SQUARE], [SQUARE[:-1]]]})
    assert message.startswith("polygon 1 ring 0 is not closed")


@pytest.mark.parametrize(
    ("position", "message"),
    [
        ([120.0, 90.5], "latitude 90.5 at coordinates[0][1] is outside -90..90."),
        ([-180.1, 35.0], "longitude -180.1 at coordinates[0][1] is outside -180..180."),
        ([float("nan"), 35.0], "position coordinates[0][1] contains a non-finite number (nan)."),
        ([float("inf"), 35.0], "position coordinates[0][1] contains a non-finite number (inf)."),
        (["120", 35.0], "position coordinates[0][1] contains a non-number: '120'."),
        ([True, 35.0], "position coordinates[0][1] contains a non-number: True."),
        ([120.0], "position coordinates[0][1] must be an array of 2 numbers [lon, lat] (optionally a third, height)."),
    ],
)
def test_bad_positions_are_refused(position, message):
    ring = [[120.0, 35.0], position, [120.1, 35.1], [120.0, 35.0]]
    assert refusal({"type": "Polygon", "coordinates": [ring]}) == message


def test_more_than_100000_vertices_is_refused_before_positions_are_read():
    # The positions are junk on purpose: the count alone must refuse it.
    ring = [None] * 100_001
    assert refusal({"type": "Polygon", "coordinates": [ring]}) == "geometry has more than 100000 vertices."


def test_exactly_100000_vertices_is_accepted():
    import math

    n = 99_999
    ring = [
        [120.17 + 0.01 * math.cos(2 * math.pi * i / n), 35.96 + 0.01 * math.sin(2 * math.pi * i / n)] for i in range(n)
    ]
    ring.append(ring[0])
    geometry = parse_geometry({"type": "Polygon", "coordinates": [ring]}, allowed_types=POLYGONAL)
    assert geometry.num_coords == 100_000


def test_vertices_are_counted_across_parts():
    part = [SQUARE[0]] * 50_001
    assert (
        refusal({"type": "MultiPolygon", "coordinates": [[part], [part]]}) == "geometry has more than 100000 vertices."
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            {"type": "Point", "coordinates": [120.17, 35.96]},
            "geometry type Point is not allowed here; expected one of: Polygon, MultiPolygon.",
        ),
        (
            {"type": "GeometryCollection", "geometries": []},
            "unsupported geometry type 'GeometryCollection'; expected one of: Polygon, MultiPolygon.",
        ),
        ({"type": "Polygon"}, "geometry has no 'coordinates'."),
        ({"type": "Polygon", "coordinates": 5}, "coordinates must be an array."),
        ({"type": "Polygon", "coordinates": [5]}, "coordinates[0] must be an array."),
        ({"type": "Polygon", "coordinates": []}, "geometry is empty."),
        ([1, 2], "geometry must be a GeoJSON geometry object with 'type' and 'coordinates'."),
        (
            "{oops",
            "geometry is not valid JSON: Expecting property name enclosed in double quotes: line 1 column 2 (char 1).",
        ),
    ],
)
def test_malformed_structure_is_refused(value, message):
    assert refusal(value) == message


def test_point_field_refuses_a_polygon():
    message = refusal({"type": "Polygon", "coordinates": [SQUARE]}, allowed=POINT)
    assert message == "geometry type Polygon is not allowed here; expected one of: Point."


@pytest.mark.parametrize(
    ("header", "expected"), [(None, "wgs84"), ("", "wgs84"), ("GCJ02", "gcj02"), (" cgcs2000 ", "cgcs2000")]
)
def test_coord_system_names(header, expected):
    assert parse_coord_system(header) == expected


def test_unknown_coord_system_is_refused():
    with pytest.raises(InvalidCoordSystem) as caught:
        parse_coord_system("bd09")
    assert caught.value.code == "invalid_coord_system"
    assert caught.value.status == 400
    assert caught.value.message == "Unknown coordinate system 'bd09'; use one of: wgs84, cgcs2000, gcj02."


def test_cgcs2000_is_taken_as_wgs84():
    geometry = parse_geometry(
        {"type": "Polygon", "coordinates": [SQUARE]}, allowed_types=POLYGONAL, coord_system="cgcs2000"
    )
    assert [list(p) for p in geometry.coords[0]] == SQUARE


def test_huge_integer_coordinate_is_refused_not_crashing():
    ring = [[120, 35], [10**400, 35], [121, 36], [120, 35]]
    message = refusal({"type": "Polygon", "coordinates": [ring]})
    assert message == f"longitude {str(10**400)[:40]} at coordinates[0][1] is outside -180..180."


def test_tuples_from_python_callers_are_accepted():
    ring = tuple(tuple(p) for p in SQUARE)
    geometry = parse_geometry({"type": "Polygon", "coordinates": (ring,)}, allowed_types=POLYGONAL)
    assert [list(p) for p in geometry.coords[0]] == SQUARE


def test_polygon_with_hole_and_mixed_heights():
    hole = [[120.172, 35.962], [120.174, 35.962], [120.174, 35.964, 3.0], [120.172, 35.962]]
    geometry = parse_geometry({"type": "Polygon", "coordinates": [SQUARE, hole]}, allowed_types=POLYGONAL)
    assert geometry.num_interior_rings == 1
    assert [list(p) for p in geometry[1].coords] == [p[:2] for p in hole]


def test_hole_outside_shell_is_refused():
    hole = [[121.0, 36.0], [121.1, 36.0], [121.1, 36.1], [121.0, 36.0]]
    message = refusal({"type": "Polygon", "coordinates": [SQUARE, hole]})
    assert message == "invalid geometry: hole lies outside shell at (121 36)."


@pytest.mark.parametrize(
    ("value", "allowed", "wkt"),
    [
        ({"type": "Point", "coordinates": [120.17, 35.96]}, POINT, "POINT (120.17 35.96)"),
        (
            {"type": "MultiPoint", "coordinates": [[120.17, 35.96], [120.18, 35.97]]},
            ("MultiPoint",),
            "MULTIPOINT (120.17 35.96, 120.18 35.97)",
        ),
        (
            {"type": "LineString", "coordinates": [[120.17, 35.96], [120.18, 35.97]]},
            ("LineString",),
            "LINESTRING (120.17 35.96, 120.18 35.97)",
        ),
        (
            {"type": "MultiLineString", "coordinates": [[[120.17, 35.96], [120.18, 35.97]]]},
            ("MultiLineString",),
            "MULTILINESTRING ((120.17 35.96, 120.18 35.97))",
        ),
    ],
)
def test_other_geometry_types(value, allowed, wkt):
    assert parse_geometry(value, allowed_types=allowed).wkt == wkt


def test_line_with_one_point_is_refused():
    assert refusal({"type": "LineString", "coordinates": [[120.17, 35.96]]}, allowed=("LineString",)) == (
        "a LineString needs at least 2 points."
    )
