"""The OGC API's own definition (`/ogc/api`, the landing page's `service-desc`).

The project's OpenAPI document (/api/schema/) describes every endpoint at its full path. OGC
clients read the definition of the API whose landing page they opened, with paths relative to
it: GDAL's OAPIF driver looks up `paths["/collections/<name>/items"]` to learn which properties
it may send as query parameters (it evaluates an attribute filter on the client, after
downloading every feature, otherwise). So this document is the OGC part of the same generated
schema, its paths relative to the landing page (`servers`), with one items path per collection
that lists exactly that collection's queryables.
"""

import copy
import json
import threading
from typing import Any, ClassVar

from django.http import HttpResponse
from drf_spectacular.settings import spectacular_settings
from drf_spectacular.utils import extend_schema
from rest_framework.permissions import AllowAny

from backend.api_schema import OPENAPI_JSON_CONTENT_TYPE
from gis_layers.layers import LAYERS
from gis_layers.views import GisView

PREFIX = "/ogc"


def build_definition() -> dict[str, Any]:
    generator = spectacular_settings.DEFAULT_GENERATOR_CLASS(urlconf="gis_layers.urls")
    schema = generator.get_schema(request=None, public=True)
    paths: dict[str, Any] = {}
    for path, operations in schema["paths"].items():
        if not path.startswith(PREFIX + "/"):
            continue  # the vector tiles are not part of OGC API – Features
        paths[path.removeprefix(PREFIX) or "/"] = operations
    items = paths["/collections/{collection_id}/items"]["get"]
    queryable_names = {name for layer in LAYERS.values() for name in layer.queryables}
    for layer in LAYERS.values():
        operation = copy.deepcopy(items)
        operation["operationId"] = f"ogc_items_{layer.name}"
        operation["summary"] = f"{layer.title}: features (GeoJSON FeatureCollection)"
        parameters = []
        for parameter in operation["parameters"]:
            name = parameter["name"]
            if parameter["in"] == "path":
                continue
            if parameter["in"] == "query" and name in queryable_names:
                if name not in layer.queryables:
                    continue
                queryable = layer.queryables[name]
                parameter = {
                    **parameter,
                    "schema": queryable.schema,
                    "description": f"Property filter: `{name}` equals the value (see the queryables).",
                }
            parameters.append(parameter)
        operation["parameters"] = parameters
        operation["responses"] = {code: response for code, response in operation["responses"].items() if code != "404"}
        paths[f"/collections/{layer.name}/items"] = {"get": operation}
    schema["paths"] = paths
    schema["info"] = {
        **schema["info"],
        "title": "Field approval map layers (OGC API – Features)",
        "description": "Core, GeoJSON, CRS by reference (Part 2) and queryables as query parameters "
        "(Part 3). Paths are relative to the landing page (`servers`).",
    }
    return schema


class OgcApiDefinitionView(GisView):
    """Public like the landing page (clients read it before they send credentials)."""

    permission_classes = [AllowAny]
    _built: ClassVar[dict[str, Any] | None] = None
    _lock: ClassVar[threading.Lock] = threading.Lock()

    @extend_schema(exclude=True)
    def get(self, request):
        # Its query is ignored: GDAL repeats a dataset URL's query (e.g. `?status=agreed`) on
        # every request, this one too.
        if OgcApiDefinitionView._built is None:
            with self._lock:
                if OgcApiDefinitionView._built is None:
                    OgcApiDefinitionView._built = build_definition()
        document = {**OgcApiDefinitionView._built, "servers": [{"url": request.build_absolute_uri(PREFIX)}]}
        return HttpResponse(json.dumps(document, ensure_ascii=False), content_type=OPENAPI_JSON_CONTENT_TYPE)
