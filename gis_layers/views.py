"""OGC API – Features (/ogc/) and Mapbox vector tiles (/tiles/) over the field records.

Authentication: HTTP Basic first (so the 401 challenge is `Basic` and QGIS/GDAL ask for a
password), device tokens second. The landing page and conformance are public (GDAL reads the
landing page before it sends credentials); collections, items and tiles need a login, and show
exactly what the user's REST selectors show.
"""

import datetime as dt
import functools
import gzip
import hashlib
import json
import uuid
from typing import Any
from urllib.parse import urlencode

from django.core.cache import cache
from django.http import HttpResponse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.http import http_date, parse_http_date_safe
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.authentication import SessionAuthentication
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.views import APIView

from backend.api_schema import OPENAPI_JSON_CONTENT_TYPE
from backend.common.errors import NotFound, ValidationFailed
from backend.layers import changes
from gis_layers.layers import CRS84, CRSS, LAYERS, MAX_ZOOM, STORAGE_CRS, WORLD_BOUNDS, Crs, Layer, Query
from mobile_api import answer_cache
from mobile_api.authentication import BasicForGisAuthentication, DeviceTokenAuthentication
from mobile_api.exceptions import PROBLEM_CONTENT_TYPE, ProblemSerializer
from mobile_api.parsers import parse_non_negative_int

GEOJSON = "application/geo+json"
# Exactly what /api/schema/?format=json answers with (backend.api_schema, one constant for both):
# GDAL refuses a service-desc whose Content-Type differs from the link's `type`.
OPENAPI = OPENAPI_JSON_CONTENT_TYPE
MVT = "application/vnd.mapbox-vector-tile"
SCHEMA_JSON = "application/schema+json"
QUERYABLES_REL = "http://www.opengis.net/def/rel/ogc/1.0/queryables"
GREGORIAN = "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian"
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    # Part 2: `crs` and `bbox-crs` (CRS84, EPSG:4490, EPSG:3857), Content-Crs.
    "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
    # Part 3: /queryables and `?name=value` filters on them.
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables-query-parameters",
]
# How long a user's collection extents are kept for the same data (the change counter is in the key).
EXTENT_CACHE_SECONDS = 600
DEFAULT_LIMIT = 100
MAX_LIMIT = 10_000


class IgnoreAccept(BaseContentNegotiation):
    """Desktop GIS sends `Accept: application/geo+json` (and more); we answer in one format."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class GisView(APIView):
    # Basic first so desktop GIS is asked for a password; the session is the web map's (GET only, so no CSRF).
    authentication_classes = [BasicForGisAuthentication, DeviceTokenAuthentication, SessionAuthentication]
    permission_classes = [IsAuthenticated]
    content_negotiation_class = IgnoreAccept


def _json(body: Any, content_type: str = "application/json", status: int = 200) -> HttpResponse:
    return HttpResponse(json.dumps(body, ensure_ascii=False), content_type=content_type, status=status)


def _url(request, path: str, params: dict[str, Any] | None = None) -> str:
    url = request.build_absolute_uri(path)
    return f"{url}?{urlencode(params)}" if params else url


def _layer(collection_id: str) -> Layer:
    layer = LAYERS.get(collection_id)
    if layer is None:
        raise NotFound(f"No collection {collection_id!r}.", code="collection_not_found")
    return layer


# --- query parameters ------------------------------------------------------------------


def parse_bbox(raw: str | None, crs: Crs = CRS84) -> tuple[float, float, float, float] | None:
    """`bbox` in `crs` and its axis order (EPSG:4490: minlat,minlon,maxlat,maxlon) as
    (minx, miny, maxx, maxy), longitude or easting first."""
    if raw is None:
        return None
    parts = raw.split(",")
    try:
        values = [float(part) for part in parts]
    except ValueError:
        values = []
    order = "minlat,minlon,maxlat,maxlon" if crs.lat_lon else "minx,miny,maxx,maxy"
    if len(values) != 4 or any(v != v or v in (float("inf"), float("-inf")) for v in values):
        raise ValidationFailed(f"bbox must be four numbers: {order} (in bbox-crs).", code="invalid_bbox")
    if crs.lat_lon:
        values = [values[1], values[0], values[3], values[2]]
    minx, miny, maxx, maxy = values
    xmin, ymin, xmax, ymax = crs.bounds
    if not (xmin <= minx <= xmax and xmin <= maxx <= xmax and ymin <= miny <= maxy <= ymax):
        raise ValidationFailed(
            f"bbox ({order}) is outside the range of its CRS, or its lower corner is above its upper.",
            code="invalid_bbox",
        )
    if minx > maxx:
        # Crosses the antimeridian: nothing of ours is there; keep the query simple.
        raise ValidationFailed("bbox crossing the antimeridian is not supported.", code="invalid_bbox")
    return minx, miny, maxx, maxy


def parse_after(raw: str | None) -> tuple[dt.datetime, uuid.UUID] | None:
    """`after`: the keyset `<created_at>,<id>` of the previous page's last feature, as the
    `next` links carry it."""
    if raw is None:
        return None
    created_at, _, pk = raw.rpartition(",")
    try:
        value = parse_datetime(created_at)
        key = uuid.UUID(pk)
    except ValueError:
        value = None
    if value is None or timezone.is_naive(value):
        raise ValidationFailed(
            "after must be a next link's `<created_at>,<id>`; follow the `next` link.", code="invalid_after"
        )
    return value, key


def _after(last: tuple[dt.datetime, uuid.UUID]) -> str:
    return f"{last[0].astimezone(dt.UTC).isoformat()},{last[1]}"


def parse_crs(raw: str | None, *, name: str) -> Crs:
    """`crs` or `bbox-crs`: one of the CRS URIs the collections list (default CRS84)."""
    if raw is None:
        return CRS84
    crs = CRSS.get(raw)
    if crs is None:
        supported = ", ".join(CRSS)
        raise ValidationFailed(
            f"{name} {raw!r} is not supported; give one of {supported}.",
            code="invalid_bbox_crs" if name == "bbox-crs" else "invalid_crs",
            errors={name: [f"One of {supported}."]},
        )
    return crs


# Parameters of /items besides the collection's queryables.
ITEMS_QUERY = ("bbox", "bbox-crs", "crs", "limit", "offset", "after", "datetime", "f")
ITEM_QUERY = ("crs", "f")
FORMATS = ("json", "geojson")


def query_parameters(request, allowed) -> dict[str, str]:
    """The query as {name: value}, refusing parameters the operation does not define (OGC API –
    Features Part 1, /req/core/query-param-unknown) and a parameter given twice with different
    values. The same value twice is one (GDAL repeats a dataset URL's query on links that carry it)."""
    params = request.query_params
    unknown = sorted(name for name in params if name not in allowed)
    if unknown:
        raise ValidationFailed(
            f"Unknown query parameter(s): {', '.join(unknown)}. This operation takes {', '.join(allowed)}.",
            code="unknown_parameter",
            errors={name: ["Not a parameter of this operation."] for name in unknown},
        )
    repeated = sorted(name for name in params if len(set(params.getlist(name))) > 1)
    if repeated:
        raise ValidationFailed(
            f"Query parameter(s) given more than once with different values: {', '.join(repeated)}.",
            code="repeated_parameter",
            errors={name: ["Give one value."] for name in repeated},
        )
    values = {name: params[name] for name in params}
    if "f" in values and values["f"] not in FORMATS:
        raise ValidationFailed(
            f"f must be one of {', '.join(FORMATS)}: the layers answer in (Geo)JSON.",
            code="unsupported_format",
            errors={"f": [f"One of {', '.join(FORMATS)}."]},
        )
    return values


def parse_filters(layer: Layer, values: dict[str, str]) -> tuple[tuple[str, Any], ...]:
    """The layer's queryables given as query parameters, typed ((attname, value), …)."""
    filters = []
    errors: dict[str, list[str]] = {}
    for name, queryable in layer.queryables.items():
        if name not in values:
            continue
        try:
            filters.append((name, queryable.parse(values[name])))
        except ValueError:
            errors[name] = [_expected(queryable.schema)]
    if errors:
        detail = "; ".join(f"{name}: {messages[0]}" for name, messages in errors.items())
        raise ValidationFailed(f"Invalid property filter: {detail}", code="invalid_filter", errors=errors)
    return tuple(filters)


def _expected(schema: dict[str, Any]) -> str:
    if schema.get("format") == "uuid":
        return "Give a UUID."
    if schema["type"] == "boolean":
        return "Give true or false (or 1 or 0)."
    return "Give one of " + ", ".join(str(value) for value in schema["enum"]) + "."


def parse_limit(raw: str | None) -> int:
    """OGC API – Features Part 1 (7.15.3): a limit above the server's maximum is served as the
    maximum, not refused; the `next` link then pages on."""
    if raw is None:
        return DEFAULT_LIMIT
    try:
        limit = int(raw)
    except ValueError:
        limit = 0
    if limit < 1:
        raise ValidationFailed(
            f"limit must be a positive integer (above {MAX_LIMIT} serves {MAX_LIMIT}).", code="invalid_limit"
        )
    return min(limit, MAX_LIMIT)


def parse_offset(raw: str | None) -> int:
    if raw is None:
        return 0
    offset = parse_non_negative_int(raw)  # None beyond what PostgreSQL's OFFSET can take
    if offset is None:
        raise ValidationFailed("offset must be a non-negative integer.", code="invalid_offset")
    return offset


def _instant(raw: str, *, end: bool) -> dt.datetime:
    value = parse_datetime(raw) if "T" in raw.upper() else None
    if value is not None:
        if timezone.is_naive(value):
            value = timezone.make_aware(value, dt.UTC)
        return value
    day = parse_date(raw) if len(raw) == 10 else None
    if day is None:
        raise ValueError(raw)
    start = dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC)
    return start + dt.timedelta(days=1, microseconds=-1) if end else start


def parse_datetime_param(raw: str | None) -> tuple[dt.datetime | None, dt.datetime | None] | None:
    """RFC 3339 instant (a date means the whole day, UTC) or interval `start/end`, `..` or '' open."""
    if raw is None:
        return None
    try:
        if "/" in raw:
            first, _, second = raw.partition("/")
            if "/" in second:
                raise ValueError(raw)
            start = None if first in ("", "..") else _instant(first, end=False)
            end = None if second in ("", "..") else _instant(second, end=True)
            if start is None and end is None:
                return None
            if start is not None and end is not None and start > end:
                raise ValueError(raw)
            return start, end
        if "T" in raw.upper():
            instant = _instant(raw, end=False)
            return instant, instant
        return _instant(raw, end=False), _instant(raw, end=True)
    except (ValueError, OverflowError) as error:
        raise ValidationFailed(
            "datetime must be an RFC 3339 date-time or an interval start/end with '..' for an open end.",
            code="invalid_datetime",
        ) from error


# --- HTTP caching ------------------------------------------------------------------------

# Bump when the representation changes for the same data (an ETag names a body, not the rows).
REPRESENTATION = "2"
CACHE_CONTROL = "private, max-age=0, must-revalidate"
# Fast over small: level 1 packs GeoJSON and MVT to ~15-25 % at a fifth of level 6's time.
GZIP_LEVEL = 1
GZIP_MIN_BYTES = 512


def _etag(request, version: int) -> str:
    query = "&".join(sorted(request.META.get("QUERY_STRING", "").split("&")))
    key = f"{REPRESENTATION}|{version}|{request.user.pk}|{request.path}|{query}"
    return 'W/"' + hashlib.sha256(key.encode()).hexdigest()[:32] + '"'


def _not_modified(request, etag: str, last_modified: dt.datetime | None) -> bool:
    """RFC 9110 13.2.2: If-None-Match decides when present; else If-Modified-Since."""
    if_none_match = request.META.get("HTTP_IF_NONE_MATCH")
    if if_none_match is not None:
        tags = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
        return "*" in tags or etag.removeprefix("W/") in tags
    since = parse_http_date_safe(request.META.get("HTTP_IF_MODIFIED_SINCE", ""))
    return since is not None and last_modified is not None and int(last_modified.timestamp()) <= since


def cached(build=None, *, stored: bool = False):
    """Wrap a GET handler `build(self, request, ...) -> HttpResponse` with the layers' ETag,
    Last-Modified, Cache-Control and a 304 that costs one counter read, and gzip its body when
    the client accepts it. `stored=True`: the answer is also kept in the server's answer cache
    (mobile_api.answer_cache) for the same user, request, encoding and data version."""
    if build is None:
        return functools.partial(cached, stored=stored)

    @functools.wraps(build)
    def get(self, request, *args, **kwargs):
        version, changed_at, now = changes.current()
        etag, last_modified = _validators(request, version, changed_at, now)
        if _not_modified(request, etag, last_modified):
            response = HttpResponse(status=304)
        else:
            # The counter the ETag names, for handlers that reuse work per data version (tiles).
            request.layers_version = version

            def live() -> HttpResponse:
                response = build(self, request, *args, **kwargs)
                _gzip(request, response)
                return response

            if stored:
                response = answer_cache.answer(request, version, changed_at, live, encoding=_encoding(request))
            else:
                response = live()
        return _with_validators(response, etag, last_modified)

    return get


def _encoding(request) -> str:
    """The encoding _gzip answers this request in (when the body is worth compressing)."""
    return "gzip" if answer_cache.accepts_gzip(request) else "identity"


def _validators(request, version: int, changed_at: dt.datetime, now: dt.datetime) -> tuple[str, dt.datetime | None]:
    """(ETag, Last-Modified or None) of the answer at the counter changes.current() read."""
    # HTTP dates have whole seconds: name the second after the change, and only once that
    # second is over, so a later change always falls after the date a client echoes.
    last_modified = changed_at.replace(microsecond=0) + dt.timedelta(seconds=1)
    return _etag(request, version), None if last_modified > now else last_modified


def _is_conditional(request) -> bool:
    return "HTTP_IF_NONE_MATCH" in request.META or "HTTP_IF_MODIFIED_SINCE" in request.META


def _with_validators(response: HttpResponse, etag: str, last_modified: dt.datetime | None) -> HttpResponse:
    response["ETag"] = etag
    if last_modified is not None:
        response["Last-Modified"] = http_date(last_modified.timestamp())
    response["Cache-Control"] = CACHE_CONTROL
    patch_vary_headers(response, ["Authorization", "Accept-Encoding"])
    return response


def _gzip(request, response: HttpResponse) -> None:
    if response.status_code != 200 or len(response.content) < GZIP_MIN_BYTES:
        return
    if not answer_cache.accepts_gzip(request):
        return
    response.content = gzip.compress(response.content, compresslevel=GZIP_LEVEL, mtime=0)
    response["Content-Encoding"] = "gzip"


# --- OGC API – Features ------------------------------------------------------------------


def _queryable_parameters() -> list[OpenApiParameter]:
    """Every collection's queryables as query parameters of /items (one path serves them all:
    a name a collection does not list is an unknown parameter there)."""
    found: dict[str, dict[str, dict[str, Any]]] = {}
    for layer in LAYERS.values():
        for name, queryable in layer.queryables.items():
            found.setdefault(name, {})[layer.name] = queryable.schema
    parameters = []
    for name, schemas in found.items():
        distinct = {json.dumps(schema, sort_keys=True) for schema in schemas.values()}
        if len(distinct) == 1:
            schema = next(iter(schemas.values()))
            values = ""
        else:
            schema = {"type": "string"}
            values = "; ".join(
                f"{layer}: {', '.join(str(v) for v in schema_of.get('enum', []))}"
                for layer, schema_of in schemas.items()
            )
        parameters.append(
            OpenApiParameter(
                name,
                schema,
                description=f"Property filter (equality) of the collections {', '.join(schemas)}"
                + (f" ({values})" if values else "")
                + "; see /ogc/collections/{collection_id}/queryables. Unknown in other collections (400).",
            )
        )
    return parameters


CRS_ENUM = {"type": "string", "format": "uri", "enum": list(CRSS), "default": CRS84.uri}
CRS_PARAMETER = OpenApiParameter(
    "crs",
    CRS_ENUM,
    description="The CRS of the answer's coordinates (OGC API – Features Part 2). EPSG:4490 (CGCS2000) "
    "answers latitude, longitude as its axis order is; EPSG:3857 in metres. `Content-Crs` names it.",
)
F_PARAMETER = OpenApiParameter("f", {"type": "string", "enum": list(FORMATS)}, description="Always (Geo)JSON.")
CONTENT_CRS_HEADER = OpenApiParameter(
    "Content-Crs",
    str,
    location=OpenApiParameter.HEADER,
    response=[200],
    description="The CRS of the coordinates, e.g. `<http://www.opengis.net/def/crs/EPSG/0/4490>`.",
)
ITEMS_PARAMETERS = [
    OpenApiParameter(
        "bbox",
        str,
        description="minx,miny,maxx,maxy in `bbox-crs` (default CRS84: lon,lat); in EPSG:4490, "
        "minlat,minlon,maxlat,maxlon (its axis order).",
    ),
    OpenApiParameter("bbox-crs", CRS_ENUM, description="The CRS of `bbox` (default CRS84)."),
    CRS_PARAMETER,
    OpenApiParameter(
        "limit",
        {"type": "integer", "minimum": 1, "default": DEFAULT_LIMIT},
        description=f"Default {DEFAULT_LIMIT}; above {MAX_LIMIT} serves {MAX_LIMIT}.",
    ),
    OpenApiParameter(
        "offset",
        {"type": "integer", "minimum": 0, "default": 0},
        description="Paging; follow the `next` link. With `after`, it only numbers the page.",
    ),
    OpenApiParameter(
        "after",
        str,
        description="Keyset paging, as `next` links carry it: `<created_at>,<id>` of the previous page's last "
        "feature (features come in created_at, id order).",
    ),
    OpenApiParameter("datetime", str, description="RFC 3339 instant or interval (`start/end`, `..` open)."),
    F_PARAMETER,
    *_queryable_parameters(),
    CONTENT_CRS_HEADER,
]
ITEMS_PROBLEMS = {
    (400, PROBLEM_CONTENT_TYPE): OpenApiResponse(
        ProblemSerializer,
        description="`unknown_parameter` (a parameter this collection does not define, e.g. a queryable of "
        "another), `repeated_parameter`, `invalid_filter` (a queryable's value is not of its type), "
        "`invalid_bbox`, `invalid_bbox_crs`, `invalid_crs`, `invalid_limit`, `invalid_offset`, `invalid_after`, "
        "`invalid_datetime`, `unsupported_format`.",
    ),
    (404, PROBLEM_CONTENT_TYPE): OpenApiResponse(ProblemSerializer, description="`collection_not_found`"),
}


class LandingView(GisView):
    permission_classes = [AllowAny]

    @extend_schema(
        tags=["ogc"],
        responses={200: OpenApiTypes.OBJECT},
        summary="OGC API – Features landing page",
        operation_id="ogc_landing",
    )
    def get(self, request):
        return _json(
            {
                "title": "Field approval map layers",
                "description": "Sites, surveys, findings, utility points, inspections and photos the user may see.",
                "links": [
                    {"href": _url(request, "/ogc/"), "rel": "self", "type": "application/json", "title": "This page"},
                    {
                        "href": _url(request, "/ogc/api"),
                        "rel": "service-desc",
                        "type": OPENAPI,
                        "title": "The API definition (gis_layers.openapi: paths relative to this page)",
                    },
                    {"href": _url(request, "/api/docs/"), "rel": "service-doc", "type": "text/html"},
                    {
                        "href": _url(request, "/ogc/conformance"),
                        "rel": "conformance",
                        "type": "application/json",
                        "title": "Conformance classes",
                    },
                    {
                        "href": _url(request, "/ogc/collections"),
                        "rel": "data",
                        "type": "application/json",
                        "title": "Collections",
                    },
                ],
            }
        )


class ConformanceView(GisView):
    permission_classes = [AllowAny]

    @extend_schema(
        tags=["ogc"],
        responses={200: OpenApiTypes.OBJECT},
        summary="OGC API conformance classes",
        operation_id="ogc_conformance",
    )
    def get(self, request):
        return _json({"conformsTo": CONFORMANCE})


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _extent(request, layer: Layer) -> dict[str, Any]:
    """The collection's extent for this user (layers.Query.extents: their own rows, bounded),
    kept per user and data version: /collections asks for six of them on every visit."""
    version = changes.current()[0]
    key = f"gis_layers:extent:{version}:{request.user.pk}:{layer.name}"
    extent = cache.get(key)
    if extent is None:
        found = Query(layer=layer, user=request.user).extents()
        spatial: dict[str, Any] = {"bbox": [found.bbox or WORLD_BOUNDS], "crs": CRS84.uri}
        extent = {"spatial": spatial}
        if found.interval is not None:
            first, last = found.interval
            extent["temporal"] = {"interval": [[_iso(first), _iso(last)]], "trs": GREGORIAN}
        cache.set(key, extent, EXTENT_CACHE_SECONDS)
    return extent


def _collection(request, layer: Layer) -> dict[str, Any]:
    base = f"/ogc/collections/{layer.name}"
    return {
        "id": layer.name,
        "title": layer.title,
        "description": layer.description,
        "itemType": "feature",
        "crs": list(CRSS),
        "storageCrs": STORAGE_CRS.uri,
        "extent": _extent(request, layer),
        "links": [
            {"href": _url(request, base), "rel": "self", "type": "application/json"},
            {"href": _url(request, base + "/items"), "rel": "items", "type": GEOJSON, "title": layer.title},
            {
                "href": _url(request, base + "/queryables"),
                "rel": QUERYABLES_REL,
                "type": SCHEMA_JSON,
                "title": "Queryables: the properties items can be filtered on",
            },
        ],
    }


class CollectionsView(GisView):
    @extend_schema(
        tags=["ogc"],
        responses={200: OpenApiTypes.OBJECT},
        summary="Feature collections",
        operation_id="ogc_collections",
    )
    def get(self, request):
        return _json(
            {
                "links": [{"href": _url(request, "/ogc/collections"), "rel": "self", "type": "application/json"}],
                "collections": [_collection(request, layer) for layer in LAYERS.values()],
            }
        )


class CollectionView(GisView):
    @extend_schema(
        tags=["ogc"],
        responses={200: OpenApiTypes.OBJECT},
        summary="One feature collection",
        operation_id="ogc_collection",
    )
    def get(self, request, collection_id: str):
        return _json(_collection(request, _layer(collection_id)))


class QueryablesView(GisView):
    @extend_schema(
        tags=["ogc"],
        parameters=[F_PARAMETER],
        responses={(200, SCHEMA_JSON): OpenApiTypes.OBJECT, **ITEMS_PROBLEMS},
        summary="The properties a collection's items can be filtered on (JSON Schema; OGC API – Features Part 3)",
        operation_id="ogc_queryables",
    )
    def get(self, request, collection_id: str):
        layer = _layer(collection_id)
        query_parameters(request, ("f",))
        properties: dict[str, Any] = {
            "geometry": {
                "title": "Geometry",
                "format": "geometry-multipolygon" if layer.is_multi else f"geometry-{layer.geometry_type.lower()}",
                "x-ogc-role": "primary-geometry",
            }
        }
        for name, queryable in layer.queryables.items():
            properties[name] = {"title": queryable.title, **queryable.schema}
        return _json(
            {
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "$id": _url(request, f"/ogc/collections/{layer.name}/queryables"),
                "type": "object",
                "title": layer.title,
                "description": "Each property but the geometry is also a query parameter of /items: "
                "`?name=value` keeps the features whose property equals the value.",
                "properties": properties,
                "additionalProperties": False,
            },
            content_type=SCHEMA_JSON,
        )


def _content_crs(response: HttpResponse, crs: Crs) -> HttpResponse:
    # OGC API – Features Part 2, /req/crs/ogc-crs-header-value: the URI in angle brackets.
    response["Content-Crs"] = f"<{crs.uri}>"
    return response


class ItemsView(GisView):
    @extend_schema(
        tags=["ogc"],
        parameters=ITEMS_PARAMETERS,
        responses={(200, GEOJSON): OpenApiTypes.OBJECT, **ITEMS_PROBLEMS},
        summary="Features of a collection (GeoJSON FeatureCollection)",
        description=answer_cache.OPENAPI_NOTE,
        operation_id="ogc_items",
    )
    @cached(stored=True)
    def get(self, request, collection_id: str):
        layer = _layer(collection_id)
        params = query_parameters(request, (*ITEMS_QUERY, *layer.queryables))
        limit = parse_limit(params.get("limit"))
        offset = parse_offset(params.get("offset"))
        bbox_crs = parse_crs(params.get("bbox-crs"), name="bbox-crs")
        crs = parse_crs(params.get("crs"), name="crs")
        query = Query(
            layer=layer,
            user=request.user,
            bbox=parse_bbox(params.get("bbox"), bbox_crs),
            bbox_crs=bbox_crs,
            interval=parse_datetime_param(params.get("datetime")),
            crs=crs,
            filters=parse_filters(layer, params),
        )
        after = parse_after(params.get("after"))
        page = query.page(limit=limit, offset=offset, after=after)
        path = f"/ogc/collections/{layer.name}/items"
        # Links keep the request's filters, CRSs and format; only the page moves.
        kept = {k: v for k, v in params.items() if k not in ("limit", "offset", "after")} | {"limit": limit}
        this = kept | ({"after": params["after"]} if after is not None else {}) | {"offset": offset}
        links = [
            {"href": _url(request, path, this), "rel": "self", "type": GEOJSON},
            {"href": _url(request, f"/ogc/collections/{layer.name}"), "rel": "collection", "type": "application/json"},
        ]
        if page.more and page.last is not None:
            # Keyset: the next page starts after this one's last feature (the index walk goes
            # straight there); `offset` only numbers it (for `prev`).
            following = kept | {"after": _after(page.last), "offset": offset + limit}
            links.append({"href": _url(request, path, following), "rel": "next", "type": GEOJSON})
        if offset > 0:
            links.append(
                {"href": _url(request, path, kept | {"offset": max(0, offset - limit)}), "rel": "prev", "type": GEOJSON}
            )
        rest: dict[str, Any] = {} if page.matched is None else {"numberMatched": page.matched}
        rest |= {
            "numberReturned": page.returned,
            "timeStamp": timezone.now().astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
            "links": links,
        }
        # The features arrive as JSON text (UTF-8 bytes) from PostGIS: splice them in, do not parse them.
        head = b'{"type": "FeatureCollection", "features": '
        body = b"".join([head, page.features, b", ", json.dumps(rest).encode()[1:]])
        return _content_crs(HttpResponse(body, content_type=GEOJSON), crs)


class ItemView(GisView):
    @extend_schema(
        tags=["ogc"],
        parameters=[CRS_PARAMETER, F_PARAMETER, *_queryable_parameters(), CONTENT_CRS_HEADER],
        responses={
            (200, GEOJSON): OpenApiTypes.OBJECT,
            (400, PROBLEM_CONTENT_TYPE): OpenApiResponse(
                ProblemSerializer,
                description="`unknown_parameter`, `repeated_parameter`, `invalid_crs`, `unsupported_format`",
            ),
            (404, PROBLEM_CONTENT_TYPE): OpenApiResponse(
                ProblemSerializer, description="`collection_not_found`, `feature_not_found`"
            ),
        },
        summary="One feature",
        operation_id="ogc_item",
    )
    @cached
    def get(self, request, collection_id: str, feature_id: str):
        layer = _layer(collection_id)
        # The collection's queryables too: GDAL repeats a dataset URL's filter (`?status=agreed`)
        # on every request; a feature that does not match it is not found.
        params = query_parameters(request, (*ITEM_QUERY, *layer.queryables))
        crs = parse_crs(params.get("crs"), name="crs")
        filters = parse_filters(layer, params)
        try:
            pk = uuid.UUID(feature_id)
        except ValueError:
            pk = None
        feature = Query(layer=layer, user=request.user, feature_id=pk, crs=crs, filters=filters).one() if pk else None
        if feature is None:
            raise NotFound("No such feature.", code="feature_not_found")
        links = [
            {"href": _url(request, f"/ogc/collections/{layer.name}/items/{pk}"), "rel": "self", "type": GEOJSON},
            {"href": _url(request, f"/ogc/collections/{layer.name}"), "rel": "collection", "type": "application/json"},
        ]
        body = feature[:-1] + ', "links": ' + json.dumps(links) + "}"
        return _content_crs(HttpResponse(body, content_type=GEOJSON), crs)


# --- vector tiles ------------------------------------------------------------------------


class TileView(GisView):
    @extend_schema(
        tags=["tiles"],
        responses={(200, MVT): OpenApiTypes.BINARY, 204: None},
        summary="Mapbox vector tile of a layer (204 when empty); at z <= 10 every layer carries one `count` point per grid cell",
        description=answer_cache.OPENAPI_NOTE,
        operation_id="tiles_tile",
    )
    def get(self, request, layer_name: str, z: int, x: int, y: int):
        """A request without If-None-Match / If-Modified-Since reads the change counter and
        looks the tile up in the answer cache; on a miss it computes the tile for that counter.
        With the answer cache off or bypassed (`Cache-Control: no-cache`), the counter and the
        tile come in one statement when they can (Query.tile_and_version). A revalidation reads
        the counter alone first, as every cached answer does."""
        if _is_conditional(request):
            return self.revalidated(request, layer_name, z, x, y)
        layer = _tile_layer(layer_name, z, x, y)
        encoding = _encoding(request)
        skip = answer_cache.directives(request)
        if answer_cache.enabled() and not skip:
            version, changed_at, now = changes.current()
            response = answer_cache.answer(
                request,
                version,
                changed_at,
                lambda: self.live(request, layer, z, x, y, version=version),
                encoding=encoding,
            )
            return _with_validators(response, *_validators(request, version, changed_at, now))
        query = Query(layer=layer, user=request.user)
        (version, changed_at, now), body = query.tile_and_version(z=z, x=x, y=y)
        if body is None:
            body = query.tile(z=z, x=x, y=y, version=version)
        response = _tile_response(body)
        _gzip(request, response)
        if answer_cache.enabled() and "no-store" not in skip:
            answer_cache.store(answer_cache.key(request, version, changed_at, encoding=encoding), response)
        return _with_validators(response, *_validators(request, version, changed_at, now))

    @staticmethod
    def live(request, layer: Layer, z: int, x: int, y: int, *, version: int) -> HttpResponse:
        response = _tile_response(Query(layer=layer, user=request.user).tile(z=z, x=x, y=y, version=version))
        _gzip(request, response)
        return response

    @cached(stored=True)
    def revalidated(self, request, layer_name: str, z: int, x: int, y: int):
        layer = _tile_layer(layer_name, z, x, y)
        return _tile_response(Query(layer=layer, user=request.user).tile(z=z, x=x, y=y, version=request.layers_version))


def _tile_layer(layer_name: str, z: int, x: int, y: int) -> Layer:
    layer = LAYERS.get(layer_name)
    if layer is None:
        raise NotFound(f"No layer {layer_name!r}.", code="layer_not_found")
    if not 0 <= z <= MAX_ZOOM:
        raise ValidationFailed(f"z must be from 0 to {MAX_ZOOM}.", code="invalid_tile")
    if not (0 <= x < 2**z and 0 <= y < 2**z):
        raise NotFound(f"No tile {z}/{x}/{y}: x and y must be below {2**z}.", code="tile_not_found")
    return layer


def _tile_response(body: bytes) -> HttpResponse:
    return HttpResponse(body, content_type=MVT, status=200 if body else 204)


class TileJsonView(GisView):
    @extend_schema(
        tags=["tiles"],
        responses={200: OpenApiTypes.OBJECT},
        summary="TileJSON 3.0.0 of a layer",
        operation_id="tiles_tilejson",
    )
    def get(self, request, layer_name: str):
        layer = LAYERS.get(layer_name)
        if layer is None:
            raise NotFound(f"No layer {layer_name!r}.", code="layer_not_found")
        bounds = Query(layer=layer, user=request.user).extent() or WORLD_BOUNDS
        fields = {"id": "String"}
        for name in layer.tiled_properties:
            internal = next(f for f in layer.model._meta.concrete_fields if f.attname == name).get_internal_type()
            fields[name] = (
                "Number"
                if internal in {"FloatField", "IntegerField", "PositiveIntegerField", "PositiveSmallIntegerField"}
                else "Boolean"
                if internal in {"BooleanField"}
                else "String"
            )
        # Low zooms carry only `count` per grid cell (gis_layers.layers.AGGREGATE_MAX_ZOOM); the
        # sites layer's too, as points.
        fields["count"] = "Number"
        template = request.build_absolute_uri(f"/tiles/{layer.name}/") + "{z}/{x}/{y}.mvt"
        return _json(
            {
                "tilejson": "3.0.0",
                "name": layer.title,
                "description": layer.description,
                "scheme": "xyz",
                "tiles": [template],
                "minzoom": 0,
                "maxzoom": MAX_ZOOM,
                "bounds": bounds,
                "center": [(bounds[0] + bounds[2]) / 2, (bounds[1] + bounds[3]) / 2, 14],
                "vector_layers": [
                    {
                        "id": layer.name,
                        "description": layer.description,
                        "minzoom": 0,
                        "maxzoom": MAX_ZOOM,
                        "fields": fields,
                    }
                ],
            }
        )
