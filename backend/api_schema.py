"""The OpenAPI document and its documentation pages.

The document is built once per process: it is ~670 KB and takes 0.4-1.2 s to generate, and it
only changes with the code. Its JSON content type is a constant because the OGC landing page
announces it as the `service-desc` link type, and GDAL refuses a document whose Content-Type
does not carry every token of the announced one.
"""

import threading
from typing import ClassVar

from django.http import HttpResponse
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularAPIView

OPENAPI_JSON_CONTENT_TYPE = "application/vnd.oai.openapi+json;version=3.0"
OPENAPI_YAML_CONTENT_TYPE = "application/vnd.oai.openapi"


class CachedSchemaView(SpectacularAPIView):
    """The schema, rendered once per process and format.

    Built without the caller's request, so it is the same for every caller (the schema is
    public: it never depended on who asks). `?version=` and `?lang=` are ignored: the API has
    one version and one documentation language, and honouring free-form values would let any
    client make the process build and keep unbounded variants.
    """

    _rendered: ClassVar[dict[str, bytes]] = {}
    _lock: ClassVar[threading.Lock] = threading.Lock()

    @extend_schema(exclude=True)
    def get(self, request, *args, **kwargs):
        renderer = request.accepted_renderer
        body = self._rendered.get(renderer.format)
        if body is None:
            with self._lock:
                body = self._rendered.get(renderer.format)
                if body is None:
                    generator = self.generator_class(
                        urlconf=self.urlconf, api_version=self.api_version, patterns=self.patterns
                    )
                    schema = generator.get_schema(request=None, public=self.serve_public)
                    body = renderer.render(schema, renderer_context=self.get_renderer_context())
                    self._rendered[renderer.format] = body
        content_type = OPENAPI_JSON_CONTENT_TYPE if renderer.format == "json" else OPENAPI_YAML_CONTENT_TYPE
        response = HttpResponse(body, content_type=content_type)
        response["Content-Disposition"] = f'inline; filename="{self._get_filename(request, self.api_version)}"'
        return response

    @classmethod
    def forget(cls) -> None:
        """Drop the built documents (for tests that change what the schema describes)."""
        with cls._lock:
            cls._rendered.clear()
