"""The plain-Point shortcut of parse_geometry gives exactly what the general path gives.

The reference is the same call with the shortcut switched off (geometry._plain_point returning
None), so the general path (checks, shapely, validity, WKB) decides what the right answer is.
"""

import json

import pytest

from backend.common import geometry as geometry_module
from backend.common.errors import InvalidGeometry
from backend.common.geometry import POINT, POLYGONAL, parse_geometry


def outcome(value, allowed, coord_system="wgs84"):
    try:
        result = parse_geometry(value, allowed_types=allowed, coord_system=coord_system)
    except InvalidGeometry as error:
        return ("refused", error.code, error.message)
    return ("ok", bytes(result.wkb), result.srid, result.wkt, result.hasz)


def general(monkeypatch, value, allowed, coord_system="wgs84"):
    with monkeypatch.context() as patch:
        patch.setattr(geometry_module, "_plain_point", lambda value, allowed: None)
        return outcome(value, allowed, coord_system)


VALID = [
    [120.17, 35.96],
    [120.17, 35.96, 12.5],
    [120, 35],
    [120, 35, 7],
    [180, 90],
    [-180, -90],
    [180.0, -90.0],
    [-180.0, 90.0],
    [0, 0],
    [-0.0, -0.0],
    [0.0, -0.0, float("nan")],  # a non-finite height: general path refuses it
    [1e-300, -1e-300],
    [5e-324, 5e-324],
    [120.123456789012345, 35.987654321098765],
    [179.99999999999997, 89.99999999999999],
]

INVALID = [
    [180.00000000000003, 0],
    [0, 90.00000000000001],
    [-180.1, 35.0],
    [120.0, 90.5],
    [181, 0],
    [0, -91],
    [10**400, 35],
    [35, -(10**400)],
    [float("nan"), 35.0],
    [120.0, float("inf")],
    [float("-inf"), 0],
    [120.0, 35.0, float("inf")],
    ["120", 35.0],
    [120.0, "35"],
    [True, 35.0],
    [120.0, False],
    [120.0, 35.0, True],
    [None, 35.0],
    [[120.0], 35.0],
    [120.0],
    [],
    [120.0, 35.0, 1.0, 2.0],
    (120.0, 35.0),  # a tuple from a Python caller: general path
    {"lon": 120.0},
    "120,35",
    5,
    None,
]


@pytest.mark.parametrize("coordinates", VALID + INVALID, ids=repr)
@pytest.mark.parametrize("coord_system", ["wgs84", "cgcs2000", "gcj02", " WGS84 "])
def test_point_shortcut_equals_general_path(monkeypatch, coordinates, coord_system):
    value = {"type": "Point", "coordinates": coordinates}
    assert outcome(value, POINT, coord_system) == general(monkeypatch, value, POINT, coord_system)


@pytest.mark.parametrize(
    "value",
    [
        {"type": "Point", "coordinates": [120.17, 35.96], "bbox": [1, 2, 3, 4], "crs": "x"},
        {"type": "Point"},
        {"coordinates": [120.17, 35.96]},
        {"type": "point", "coordinates": [120.17, 35.96]},
        {"type": ["Point"], "coordinates": [120.17, 35.96]},
        {"type": "MultiPoint", "coordinates": [[120.17, 35.96]]},
        json.dumps({"type": "Point", "coordinates": [120.17, 35.96]}),
    ],
    ids=repr,
)
@pytest.mark.parametrize("allowed", [POINT, POLYGONAL, ("Point", "MultiPoint"), ()], ids=repr)
def test_other_shapes_and_allowed_types_equal_general_path(monkeypatch, value, allowed):
    assert outcome(value, allowed) == general(monkeypatch, value, allowed)


def test_shortcut_answers_the_expected_values():
    geometry = parse_geometry({"type": "Point", "coordinates": [120.17, 35.96, 12.5]}, allowed_types=POINT)
    assert (geometry.x, geometry.y, geometry.srid, geometry.hasz, geometry.geom_type) == (
        120.17,
        35.96,
        4326,
        False,
        "Point",
    )
    assert bytes(geometry.wkb).hex() == "01010000007b14ae47e10a5e407b14ae47e1fa4140"


def test_shortcut_is_taken_for_a_plain_point(monkeypatch):
    taken = []
    original = geometry_module._plain_point
    monkeypatch.setattr(geometry_module, "_plain_point", lambda v, a: taken.append(1) or original(v, a))
    parse_geometry({"type": "Point", "coordinates": [120.17, 35.96]}, allowed_types=POINT)
    assert taken == [1]
    # and not for GCJ-02, which needs the conversion
    parse_geometry({"type": "Point", "coordinates": [120.17, 35.96]}, allowed_types=POINT, coord_system="gcj02")
    assert taken == [1]
