"""A server-side cache of whole layer answers (MVT tiles, OGC items pages, nearby points), as
tile servers keep one, that never shows a user what their REST view would not and is never stale.

An entry is keyed by

- the data version and the time it last changed (backend.layers.changes.current(): every write to a
  record table or a scope table bumps it, in the writing transaction; the time too, so a database
  restored from a backup, whose counter may be back at an old number, cannot meet old entries);
- the user (pk): scopes differ per user, and a change of the user's roles or organisation bumps
  the version like any other scope change;
- the request as the answer depends on it: scheme and host (absolute links), path and the query
  string as sent (the `self`/`next` links keep the request's parameter order, so two orders are
  two answers), and whatever else a view names (`extra`: nearby's X-Coord-System);
- the encoding the answer was made in (gzip or identity): the gzip body is stored, so a hit costs
  no compression;
- the code: a hash of the first-party source (read once per process), so a deploy that changes
  how an answer is built or scoped never meets the entries of the code before it in a shared
  Redis, while the workers of one deploy share theirs.

Entries of old versions are never read again (the version moved past them); they expire after
LAYERS_CACHE_SECONDS. An answer over LAYERS_CACHE_MAX_BYTES (as stored, i.e. compressed when the
client took gzip) is not stored. Only 200 and 204 answers are stored; errors never are.

A request with `Cache-Control: no-cache` skips the lookup, computes live and refills the entry;
`no-store` skips the lookup and stores nothing. A cache that is down, full or refuses a value
never fails a request: the error is logged as a warning and the answer computed live.

The cache is the `layers` alias of settings.CACHES (Redis when REDIS_URL is set, else memory per
process). Headers that name the data (ETag, Last-Modified, Cache-Control, Vary) are not stored:
the views set them from the counter read of the request, exactly as on a live answer.
"""

import functools
import hashlib
import logging
import re
from collections.abc import Callable
from pathlib import Path

from django.conf import settings
from django.core.cache import caches
from django.http import HttpResponse

from backend.layers import changes

logger = logging.getLogger(__name__)

ALIAS = "layers"
# Bump when what an entry holds changes shape or meaning (old entries are then never read).
FORMAT = "1"
# Headers of the answer that are part of the stored body's representation.
STORED_HEADERS = ("Content-Encoding", "Content-Crs")
STORED_STATUSES = (200, 204)
# The operations' OpenAPI description of it.
OPENAPI_NOTE = (
    "Answers are kept in a server-side cache per user, request, encoding and data version (any "
    "write to a record or to what decides a user's scope moves the version, so a kept answer is "
    "never stale; LAYERS_CACHE_SECONDS, LAYERS_CACHE_MAX_BYTES). Send `Cache-Control: no-cache` "
    "to have it computed live (the fresh answer is kept for the next request), or "
    "`Cache-Control: no-store` to have it computed live and not kept. The answer is the same "
    "either way, headers included."
)
_DIRECTIVES = re.compile(r"\b(no-cache|no-store)\b", re.IGNORECASE)


def enabled() -> bool:
    return settings.LAYERS_CACHE_SECONDS > 0


def directives(request) -> set[str]:
    """The request's `no-cache` / `no-store` (lower case): both skip the lookup."""
    return {found.lower() for found in _DIRECTIVES.findall(request.META.get("HTTP_CACHE_CONTROL", ""))}


def accepts_gzip(request) -> bool:
    return re.search(r"\bgzip\b", request.META.get("HTTP_ACCEPT_ENCODING", "")) is not None


# The packages whose source decides an answer (views, layers, selectors, scopes, settings).
CODE_PACKAGES = ("backend", "mobile_api", "gis_layers")


@functools.cache
def code_version() -> str:
    """A hash of the first-party Python source but tests (~2 MB, read once per process)."""
    root = Path(settings.BASE_DIR)
    digest = hashlib.sha256()
    for package in CODE_PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            if "tests" in path.relative_to(root).parts:
                continue
            digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def key(request, version: int, changed_at, *, encoding: str, extra: str = "") -> str:
    parts = (
        FORMAT,
        code_version(),
        str(version),
        changed_at.isoformat() if changed_at is not None else "",
        str(request.user.pk),
        request.scheme,
        request.get_host(),
        request.path,
        request.META.get("QUERY_STRING", ""),
        encoding,
        extra,
    )
    return "answer:" + hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def lookup(cache_key: str) -> HttpResponse | None:
    try:
        entry = caches[ALIAS].get(cache_key)
    except Exception:  # noqa: BLE001 - any cache failure: answer live
        logger.warning("Layer answer cache unavailable on read; answering live", exc_info=True)
        return None
    if entry is None:
        return None
    status, content_type, headers, body = entry
    response = HttpResponse(body, content_type=content_type, status=status)
    for name, value in headers:
        response[name] = value
    return response


def store(cache_key: str, response: HttpResponse) -> None:
    if response.status_code not in STORED_STATUSES or response.streaming:
        return
    body = response.content
    if len(body) > settings.LAYERS_CACHE_MAX_BYTES:
        return
    headers = tuple((name, response[name]) for name in STORED_HEADERS if response.has_header(name))
    entry = (response.status_code, response["Content-Type"], headers, body)
    try:
        caches[ALIAS].set(cache_key, entry, settings.LAYERS_CACHE_SECONDS)
    except Exception:  # noqa: BLE001 - a full or absent cache must not fail the request
        logger.warning("Layer answer cache refused an entry of %d bytes; not cached", len(body), exc_info=True)


def answer(
    request, version: int, changed_at, live: Callable[[], HttpResponse], *, encoding: str, extra: str = ""
) -> HttpResponse:
    """The stored answer of this request at this data version, or `live()`'s (stored for the
    next one). `live` must answer in `encoding` (it gzips when that is "gzip" and the body is
    worth it)."""
    if not enabled():
        return live()
    skip = directives(request)
    cache_key = key(request, version, changed_at, encoding=encoding, extra=extra)
    if not skip:
        hit = lookup(cache_key)
        if hit is not None:
            return hit
    response = live()
    if "no-store" not in skip:
        store(cache_key, response)
    return response


def drf_answer(request, build: Callable[[], "HttpResponse"], *, extra: str = "") -> HttpResponse:
    """`answer` for a DRF handler whose `build()` returns a Response (rendered after the view
    returns): the entry is stored from the rendered response, before any middleware. Its data
    version is read here (the view sets no validators of its own)."""
    skip = directives(request)
    if not enabled() or "no-store" in skip:
        return build()  # nothing to read or keep: no counter read either
    version, changed_at, _ = changes.current()
    cache_key = key(request, version, changed_at, encoding="identity", extra=extra)
    if not skip:
        hit = lookup(cache_key)
        if hit is not None:
            return hit
    response = build()
    response.add_post_render_callback(lambda rendered: store(cache_key, rendered))
    return response
