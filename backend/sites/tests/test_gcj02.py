"""GCJ-02: the published forward formula and its iterated inverse."""

import math

import pytest

from backend.common.geometry import POLYGONAL, gcj02_to_wgs84, parse_geometry, wgs84_to_gcj02

# Public test vectors of eviltransform (github.com/googollee/eviltransform), as (lon, lat).
PUBLISHED = [
    ((121.5272106, 31.1774276), (121.531541859215, 31.17530398364597)),  # Shanghai
    ((113.912316, 22.543847), (113.9171764808363, 22.540796131694766)),  # Shenzhen
    ((116.377817, 39.911954), (116.38404722455657, 39.91334545536069)),  # Beijing
]
# The demo plot's corner in Huangdao, Qingdao: WGS84 and its GCJ-02 (forward formula).
QINGDAO_WGS84 = (120.1700, 35.9600)
QINGDAO_GCJ02 = (120.17518195393903, 35.96016772175137)


def metres(a, b) -> float:
    """Equirectangular distance; exact enough below a kilometre."""
    mean_lat = math.radians((a[1] + b[1]) / 2)
    dx = math.radians(a[0] - b[0]) * 6378137.0 * math.cos(mean_lat)
    dy = math.radians(a[1] - b[1]) * 6378137.0
    return math.hypot(dx, dy)


@pytest.mark.parametrize(("wgs", "gcj"), PUBLISHED)
def test_forward_matches_published_vectors(wgs, gcj):
    lon, lat = wgs84_to_gcj02(*wgs)
    assert lon == pytest.approx(gcj[0], abs=1e-9)
    assert lat == pytest.approx(gcj[1], abs=1e-9)


@pytest.mark.parametrize(("wgs", "gcj"), PUBLISHED)
def test_inverse_of_published_vectors_is_within_a_centimetre(wgs, gcj):
    assert metres(gcj02_to_wgs84(*gcj), wgs) < 0.01


def test_inverse_of_qingdao_point_is_its_wgs84_original():
    # The offset there is about 470 m; the inverse must undo it to well under 1 m.
    assert 400 < metres(QINGDAO_GCJ02, QINGDAO_WGS84) < 550
    assert metres(gcj02_to_wgs84(*QINGDAO_GCJ02), QINGDAO_WGS84) < 0.01


@pytest.mark.parametrize("point", [(120.16, 35.95), (120.2, 35.98), (87.6, 43.8), (126.6, 45.7), (109.5, 18.2)])
def test_forward_of_inverse_round_trips(point):
    back = wgs84_to_gcj02(*gcj02_to_wgs84(*point))
    assert abs(back[0] - point[0]) < 1e-7
    assert abs(back[1] - point[1]) < 1e-7
    assert metres(back, point) < 1.0


def test_outside_china_is_identity():
    assert wgs84_to_gcj02(13.4, 52.5) == (13.4, 52.5)
    assert gcj02_to_wgs84(13.4, 52.5) == (13.4, 52.5)


def test_polygon_declared_gcj02_is_shifted_back_to_wgs84_and_stays_closed():
    wgs_ring = [(120.17, 35.96), (120.1722, 35.96), (120.1722, 35.9614), (120.17, 35.9614), (120.17, 35.96)]
    gcj_ring = [list(wgs84_to_gcj02(*p)) for p in wgs_ring]
    geometry = parse_geometry(
        {"type": "Polygon", "coordinates": [gcj_ring]}, allowed_types=POLYGONAL, coord_system="gcj02"
    )
    stored = geometry.coords[0]
    assert stored[0] == stored[-1]
    for got, want in zip(stored, wgs_ring, strict=True):
        assert metres(got, want) < 0.01
