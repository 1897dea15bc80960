"""Outbound webhook calls: which URLs may be called, Standard Webhooks signing, one bounded POST.

A URL is called only when its scheme is http(s), its host matches WEBHOOK_ALLOWED_HOSTS and every
address the host resolves to is public (or inside WEBHOOK_ALLOWED_NETWORKS). The connection is
made to the address that was checked, so a second DNS answer cannot move the call elsewhere;
redirects are not followed unless WEBHOOK_MAX_REDIRECTS allows, and then each hop is checked the
same way. Every call has a timeout and reads at most WEBHOOK_MAX_RESPONSE_BYTES of the answer.
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import hmac
import ipaddress
import secrets
import socket
import threading
import time
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import urllib3
from django.conf import settings

from backend.common.errors import ValidationFailed

SECRET_PREFIX = "whsec_"


class UrlNotAllowed(ValidationFailed):
    code = "webhook_url_not_allowed"


def secret_generate() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def signature_of(*, secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """`v1,<base64 HMAC-SHA256 of id.timestamp.body>` keyed by the base64-decoded secret."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    mac = hmac.new(key, f"{message_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def signed_headers(*, secrets_: list[str], message_id: str, body: bytes, timestamp: int | None = None) -> dict:
    timestamp = int(time.time()) if timestamp is None else timestamp
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        # Several signatures, space-separated, while a rotated secret is still valid.
        "webhook-signature": " ".join(
            signature_of(secret=secret, message_id=message_id, timestamp=timestamp, body=body) for secret in secrets_
        ),
        "content-type": "application/json",
        "user-agent": "fieldapproval-webhooks/1",
    }


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str
    address: str


def _address_allowed(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    for network in settings.WEBHOOK_ALLOWED_NETWORKS:
        if address in ipaddress.ip_network(network, strict=False):
            return True
    return address.is_global and not address.is_multicast


def _host_allowed(host: str) -> bool:
    return any(fnmatch.fnmatchcase(host, pattern.lower()) for pattern in settings.WEBHOOK_ALLOWED_HOSTS)


def target_of(url: str) -> Target:
    """Check `url` and resolve it to one permitted address; UrlNotAllowed says why not."""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"}:
        raise UrlNotAllowed("Only http and https URLs can receive webhooks.", errors={"url": ["http(s) only."]})
    if parts.username or parts.password:
        raise UrlNotAllowed("Credentials in the URL are not accepted.", errors={"url": ["No user:password@."]})
    host = (parts.hostname or "").lower().rstrip(".")
    if not host:
        raise UrlNotAllowed("The URL has no host.", errors={"url": ["No host."]})
    if not _host_allowed(host):
        raise UrlNotAllowed(f"The host {host} is not allowed (WEBHOOK_ALLOWED_HOSTS).", errors={"url": ["Host."]})
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as error:
        raise UrlNotAllowed("The URL's port is invalid.", errors={"url": ["Port."]}) from error
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        raise UrlNotAllowed(f"The host {host} does not resolve.", errors={"url": ["Unknown host."]}) from error
    addresses = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]
    refused = [str(a) for a in addresses if not _address_allowed(a)]
    if refused or not addresses:
        raise UrlNotAllowed(
            f"The host {host} resolves to an address that may not be called ({', '.join(refused)}): loopback, "
            "private, link-local and other non-public addresses are refused.",
            errors={"url": ["Non-public address."]},
        )
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(scheme=parts.scheme, host=host, port=port, path=path, address=str(addresses[0]))


@dataclass(frozen=True)
class Outcome:
    status_code: int | None
    latency_ms: int
    error: str
    body: bytes

    @property
    def is_success(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


_pools = threading.local()


def _pool(target: Target) -> urllib3.HTTPConnectionPool:
    """Kept-alive connections per worker thread, to the checked address, named by the host."""
    cache = getattr(_pools, "cache", None)
    if cache is None:
        cache = _pools.cache = {}
    key = (target.scheme, target.address, target.port, target.host)
    pool = cache.get(key)
    if pool is None:
        timeout = urllib3.Timeout(connect=settings.WEBHOOK_TIMEOUT_SECONDS, read=settings.WEBHOOK_TIMEOUT_SECONDS)
        if target.scheme == "https":
            pool = urllib3.HTTPSConnectionPool(
                target.address,
                target.port,
                timeout=timeout,
                retries=False,
                maxsize=2,
                server_hostname=target.host,
                assert_hostname=target.host,
            )
        else:
            pool = urllib3.HTTPConnectionPool(target.address, target.port, timeout=timeout, retries=False, maxsize=2)
        cache[key] = pool
    return pool


def post(*, url: str, body: bytes, headers: dict[str, str]) -> Outcome:
    """POST once (following at most WEBHOOK_MAX_REDIRECTS checked redirects); never raises."""
    started = time.monotonic()

    def outcome(status_code: int | None, error: str, data: bytes = b"") -> Outcome:
        return Outcome(status_code, int((time.monotonic() - started) * 1000), error[:500], data)

    for _hop in range(settings.WEBHOOK_MAX_REDIRECTS + 1):
        try:
            target = target_of(url)
        except UrlNotAllowed as error:
            return outcome(None, f"{error.code}: {error.message}")
        port = "" if target.port in (80, 443) else f":{target.port}"
        try:
            response = _pool(target).urlopen(
                "POST",
                target.path,
                body=body,
                headers={**headers, "host": f"{target.host}{port}"},
                redirect=False,
                preload_content=False,
                assert_same_host=False,
            )
        except urllib3.exceptions.HTTPError as error:
            return outcome(None, f"{type(error).__name__}: {error}")
        try:
            data = response.read(settings.WEBHOOK_MAX_RESPONSE_BYTES + 1, decode_content=False)
            if len(data) > settings.WEBHOOK_MAX_RESPONSE_BYTES:
                # Not read to the end: the connection cannot be reused.
                response.close()
                data = data[: settings.WEBHOOK_MAX_RESPONSE_BYTES]
            else:
                response.release_conn()
        except urllib3.exceptions.HTTPError as error:
            response.close()
            return outcome(response.status, f"{type(error).__name__}: {error}")
        location = response.headers.get("location")
        if 300 <= response.status < 400 and location:
            if _hop >= settings.WEBHOOK_MAX_REDIRECTS:
                return outcome(response.status, f"Redirect to {location} not followed.", data)
            url = urljoin(url, location)
            continue
        error = "" if 200 <= response.status < 300 else data[:200].decode("utf-8", "replace")
        return outcome(response.status, error, data)
    return outcome(None, "Too many redirects.")
