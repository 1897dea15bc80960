"""A vector tile requested with HTTP Basic (what desktop GIS sends) beside the same tile with a
device token, in one run, with Django's real PBKDF2 password hasher.

    .venv/bin/python bench/bench_basic_auth.py [--rounds 200] [--uncached-rounds 10] [--points 500] [--keep]

Requests go through the whole Django stack in process (no network): middleware, authentication,
throttling, the layer SQL and ST_AsMVT, for the z14 tile holding `--points` utility points that a
department official may see. Three ways, interleaved so drift hits them alike:
- token : `Authorization: Token …` (one indexed query for the token, its user and organisation);
- basic : `Authorization: Basic …`, the verified credential remembered (BASIC_AUTH_CACHE_SECONDS);
- basic, no cache : BASIC_AUTH_CACHE_SECONDS=0, the password hashed on every request (before).
Prints median and p95 per way and the ratios to the token (target: basic <= 1.1x token).
Then the fixed cost of a token: `device_token_get_active` alone (median of `--rounds` calls) and
`GET /api/v1/utility-points/nearby/` with the token (median and p95), what every API request pays.

Uses its own database (BENCH_DATABASE_NAME, default bench_basic_auth; dropped and migrated unless --keep).
"""

import argparse
import base64
import math
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.harness import p95, recreate_database, setup_django, use_database  # noqa: E402

DATABASE = use_database("bench_basic_auth")
# The point of the bench is the production hasher: never the test suite's MD5 shortcut.
os.environ["DJANGO_TEST_FAST_PASSWORD_HASHER"] = "0"

PASSWORD = "bench-pass-2026-desktop-gis"
LON, LAT, ZOOM = 120.1711, 35.9607, 14


def main(argv: list[str] | None = None) -> None:
    """`python -m bench.bench_basic_auth [--rounds N ...]` passes options; the bench runner passes none."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--uncached-rounds", type=int, default=10)
    parser.add_argument("--points", type=int, default=500)
    parser.add_argument("--keep", action="store_true", help="reuse the bench database as it is")
    args = parser.parse_args(argv if argv is not None else [])

    recreate_database(DATABASE, keep=args.keep)
    setup_django()
    run(args)


def setup(points: int):
    """A department official of region 370211 and `points` water points on a case of that region."""
    from django.contrib.gis.geos import Point

    from backend.accounts.models import Organization, OrganizationKind, Role, User, UtilityType
    from backend.cases.models import ApprovalCase, Project
    from backend.utilities.models import UtilityPoint

    suffix = uuid.uuid4().hex[:8]
    builder = Organization.objects.create(name=f"建设单位{suffix}", kind=OrganizationKind.BUILDER)
    department = Organization.objects.create(
        name=f"规划部门{suffix}", kind=OrganizationKind.APPROVAL_DEPARTMENT, region="370211"
    )
    company = Organization.objects.create(
        name=f"水务公司{suffix}", kind=OrganizationKind.UTILITY_COMPANY, utility_types=[UtilityType.WATER]
    )
    user = User(username=f"qgis{suffix}", organization=department, roles=[Role.OFFICIAL])
    user.set_password(PASSWORD)
    user.save()
    project = Project.objects.create(
        code=f"2404-370211-04-01-{uuid.uuid4().int % 1_000_000:06d}",
        name="青岛西海岸新区重点工业项目",
        builder=builder,
        investment_type="private",
        category="social_investment",
        region_code="370211",
    )
    case = ApprovalCase.objects.create(
        external_no=f"BENCH-{suffix}",
        project=project,
        stage="engineering_planning",
        status=3,
        opened_at="2026-03-02T09:00:00+08:00",
    )
    UtilityPoint.objects.bulk_create(
        UtilityPoint(
            case=case,
            utility_type=UtilityType.WATER,
            company=company,
            name=f"给水接入点{n}",
            location=Point(LON + (n % 23) * 2e-4, LAT + (n // 23) * 2e-4, srid=4326),
        )
        for n in range(points)
    )
    return user


def _tile_path() -> str:
    n = 2**ZOOM
    x = int((LON + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(LAT))) / math.pi) / 2 * n)
    return f"/tiles/utility_points/{ZOOM}/{x}/{y}.mvt"


def _request(client, path: str, header: str) -> float:
    started = time.perf_counter()
    response = client.get(path, HTTP_AUTHORIZATION=header)
    elapsed = time.perf_counter() - started
    if response.status_code != 200 or not response.content:
        raise RuntimeError(f"{path} answered {response.status_code}")
    return elapsed


def run(args) -> None:
    from django.contrib.auth.hashers import get_hasher
    from django.core.cache import cache
    from django.test import Client, override_settings

    hasher = get_hasher()
    if hasher.algorithm != "pbkdf2_sha256":
        raise RuntimeError(f"the bench needs the production hasher, not {hasher.algorithm}")
    user = setup(args.points)
    client = Client()
    token = client.post(
        "/api/v1/auth/token", {"username": user.username, "password": PASSWORD}, content_type="application/json"
    ).json()["token"]
    token_header = f"Token {token}"
    basic_header = "Basic " + base64.b64encode(f"{user.username}:{PASSWORD}".encode()).decode()
    path = _tile_path()
    cache.clear()

    # Warm up both paths (connections, the remembered credential, PostgreSQL's caches).
    for _ in range(5):
        _request(client, path, token_header)
        _request(client, path, basic_header)
    samples: dict[str, list[float]] = {"token": [], "basic": [], "basic, no cache": []}
    for _ in range(args.rounds):
        samples["token"].append(_request(client, path, token_header))
        samples["basic"].append(_request(client, path, basic_header))
    cache.clear()
    with override_settings(BASIC_AUTH_CACHE_SECONDS=0):
        for _ in range(args.uncached_rounds):
            samples["token"].append(_request(client, path, token_header))
            samples["basic, no cache"].append(_request(client, path, basic_header))

    size = len(client.get(path, HTTP_AUTHORIZATION=token_header).content)
    print(
        f"tile {path}: {args.points} points, {size:,} bytes; hasher {hasher.algorithm} "
        f"({hasher.iterations:,} iterations); {args.rounds} rounds ({args.uncached_rounds} without the cache)"
    )
    token_median = statistics.median(samples["token"])
    token_p95 = p95(samples["token"])
    print(f"{'authentication':<20}{'median ms':>12}{'p95 ms':>10}{'median / token':>17}{'p95 / token':>14}")
    for name, values in samples.items():
        median, high = statistics.median(values), p95(values)
        print(
            f"{name:<20}{median * 1000:>12.2f}{high * 1000:>10.2f}"
            f"{median / token_median:>16.2f}x{high / token_p95:>13.2f}x"
        )
    ratio = statistics.median(samples["basic"]) / token_median
    print(f"basic (cached) / token = {ratio:.2f}x (target <= 1.10x): {'met' if ratio <= 1.10 else 'MISSED'}")
    token_cost(client, token, token_header, args.rounds)


def token_cost(client, token: str, token_header: str, rounds: int) -> None:
    """What a device token costs every request: the lookup alone, and a small API request."""
    from backend.accounts.selectors import device_token_get_active

    lookups = []
    for _ in range(rounds * 5):
        started = time.perf_counter()
        if device_token_get_active(raw=token) is None:
            raise RuntimeError("the bench token is not active")
        lookups.append(time.perf_counter() - started)
    path = f"/api/v1/utility-points/nearby/?lon={LON}&lat={LAT}&radius_m=300&limit=20"
    for _ in range(5):
        _request(client, path, token_header)
    nearby = [_request(client, path, token_header) for _ in range(rounds)]
    print(
        f"device_token_get_active: median {statistics.median(lookups) * 1000:.3f} ms, "
        f"p95 {p95(lookups) * 1000:.3f} ms ({len(lookups)} calls)"
    )
    print(
        f"nearby 300 m / 20 with the token: median {statistics.median(nearby) * 1000:.2f} ms, "
        f"p95 {p95(nearby) * 1000:.2f} ms ({rounds} requests)"
    )


if __name__ == "__main__":
    main(sys.argv[1:])
