"""Settings, read from the environment with safe defaults.

Every variable is listed in `.env.example` with its default.
"""

import os
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def load_env_file(path: Path) -> None:
    """Read `KEY=VALUE` lines into the environment; variables already set win over the file.

    `scripts/setup.sh` writes `.env` so that `manage.py` works in the checkout `make run` set
    up. Blank lines and `#` comments are skipped; one pair of surrounding quotes is removed.
    """
    if not path.is_file():
        return
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, separator, value = line.removeprefix("export ").partition("=")
        if not separator:
            raise ImproperlyConfigured(f"{path}: expected NAME=value, got {line!r}")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        os.environ.setdefault(name.strip(), value)


# Empty: read no file (tests that must not see the checkout's own .env).
_env_file = os.environ.get("DJANGO_ENV_FILE", str(BASE_DIR / ".env"))
if _env_file:
    load_env_file(Path(_env_file))


def env(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    value = env(name).strip().lower()
    return default if not value else value in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    return int(env(name, str(default)))


def env_float(name: str, default: float) -> float:
    return float(env(name, str(default)))


DEBUG = env_bool("DJANGO_DEBUG", False)
# Development mode relaxes the secrets requirement; production must set them.
DEVELOPMENT = env_bool("DJANGO_DEVELOPMENT", False)

SECRET_KEY = env("DJANGO_SECRET_KEY")
if not SECRET_KEY:
    if not (DEBUG or DEVELOPMENT):
        raise ImproperlyConfigured("DJANGO_SECRET_KEY is required outside development")
    SECRET_KEY = "development-only-insecure-key"  # noqa: S105

ALLOWED_HOSTS = [h.strip() for h in env("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost").split(",") if h.strip()]
CSRF_TRUSTED_ORIGINS = [o.strip() for o in env("DJANGO_CSRF_TRUSTED_ORIGINS", "").split(",") if o.strip()]

INSTALLED_APPS = [
    # Django's admin with the login form throttled like the API login.
    "backend.apps.FieldApprovalAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.gis",
    "rest_framework",
    "rest_framework_gis",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "corsheaders",
    "procrastinate.contrib.django",
    "backend.common",
    "backend.records",
    "backend.accounts",
    "backend.cases",
    "backend.sites",
    "backend.audit",
    "backend.surveys",
    "backend.utilities",
    "backend.acceptance",
    "backend.visits",
    "backend.evidence",
    "backend.signatures",
    "backend.sync",
    "backend.notifications",
    "backend.exports",
    "backend.onsite",
    "backend.meetings",
    "backend.events",
    "mobile_api",
    "gis_layers",
]
if DEVELOPMENT:
    # The demo world and its commands (seed_demo, print_demo_credentials): never in production.
    INSTALLED_APPS.append("backend.demo")

MIDDLEWARE = [
    # First, so preflights are answered before authentication or any other middleware can refuse them.
    "corsheaders.middleware.CorsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "backend.common.middleware.ContentSecurityPolicyMiddleware",
    "mobile_api.middleware.HostileInputMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "mobile_api.middleware.ProblemJsonMiddleware",
]
# Server-Timing (db, app) on every answer: off by default (it tells clients how long work took);
# the benchmarks and a developer's browser tools turn it on.
SERVER_TIMING = env_bool("SERVER_TIMING", False)
if SERVER_TIMING:
    MIDDLEWARE.insert(
        MIDDLEWARE.index("django.middleware.security.SecurityMiddleware"),
        "mobile_api.middleware.ServerTimingMiddleware",
    )

ROOT_URLCONF = "backend.urls"
WSGI_APPLICATION = "backend.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

DATABASE_URL = env("DATABASE_URL")
if not DATABASE_URL:
    # A production process must never fall back to a database nobody chose.
    if not (DEBUG or DEVELOPMENT):
        raise ImproperlyConfigured(
            "DATABASE_URL is required outside development, e.g. postgis://user:password@host:5432/fieldapproval"
        )
    DATABASE_URL = "postgis://postgres@127.0.0.1:5432/fieldapproval"
DATABASES = {
    "default": dj_database_url.parse(
        DATABASE_URL,
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60),
        # Django's PostGIS backend, its health check polling the socket before any `SELECT 1`.
        engine="backend.postgis",
    )
}
# A connection kept for DATABASE_CONN_MAX_AGE is checked before a request reuses it, so a restarted
# or failed-over database costs a reconnect instead of that request (backend.postgis: a poll of
# the socket, and a `SELECT 1` round trip only when the server has sent something).
DATABASES["default"]["CONN_HEALTH_CHECKS"] = env_bool("DATABASE_CONN_HEALTH_CHECKS", True)
# JIT compilation costs seconds on the planner's misjudged spatial plans and saves nothing here.
_database_options = env("DATABASE_OPTIONS", "-c jit=off")
# Milliseconds one statement may run (0: no limit, the default). docker-compose sets it for the API
# server only, so that under load a runaway statement ends as 503 query_timeout instead of holding a
# thread and a connection; the worker's exports, compactions and migrations keep no limit.
DATABASE_STATEMENT_TIMEOUT_MS = env_int("DATABASE_STATEMENT_TIMEOUT_MS", 0)
if DATABASE_STATEMENT_TIMEOUT_MS > 0:
    _database_options = f"{_database_options} -c statement_timeout={DATABASE_STATEMENT_TIMEOUT_MS}".strip()
DATABASES["default"]["OPTIONS"] = {"connect_timeout": 10, "options": _database_options}
# Parallel developers and CI runs may share one server: let each pick its test database.
if env("TEST_DATABASE_NAME"):
    DATABASES["default"]["TEST"] = {"NAME": env("TEST_DATABASE_NAME")}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

# The test suite creates hundreds of users; PBKDF2's deliberate slowness buys nothing there.
if env_bool("DJANGO_TEST_FAST_PASSWORD_HASHER", False):
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

LANGUAGE_CODE = "zh-hans"
TIME_ZONE = env("DJANGO_TIME_ZONE", "Asia/Shanghai")
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "var" / "static"
WHITENOISE_AUTOREFRESH = DEBUG or DEVELOPMENT
MEDIA_ROOT = Path(env("MEDIA_ROOT", str(BASE_DIR / "var" / "media")))
MEDIA_URL = "/media/"

# Object storage: the filesystem unless an S3-compatible endpoint is configured.
S3_BUCKET = env("S3_BUCKET")
S3_ENDPOINT_URL = env("S3_ENDPOINT_URL")
S3_ACCESS_KEY_ID = env("S3_ACCESS_KEY_ID")
S3_SECRET_ACCESS_KEY = env("S3_SECRET_ACCESS_KEY")
S3_REGION = env("S3_REGION", "us-east-1")
BLOB_ROOT = Path(env("BLOB_ROOT", str(BASE_DIR / "var" / "blobs")))
UPLOAD_ROOT = Path(env("UPLOAD_ROOT", str(BASE_DIR / "var" / "uploads")))
UPLOAD_MAX_SIZE = env_int("UPLOAD_MAX_SIZE", 512 * 1024 * 1024)
UPLOAD_EXPIRY_HOURS = env_int("UPLOAD_EXPIRY_HOURS", 24)
UPLOAD_S3_PART_SIZE = env_int("UPLOAD_S3_PART_SIZE", 8 * 1024 * 1024)
BLOB_URL_EXPIRY_SECONDS = env_int("BLOB_URL_EXPIRY_SECONDS", 300)
S3_CONNECT_TIMEOUT = env_int("S3_CONNECT_TIMEOUT", 5)
S3_READ_TIMEOUT = env_int("S3_READ_TIMEOUT", 60)
PHOTO_MAX_PIXELS = env_int("PHOTO_MAX_PIXELS", 64_000_000)
PHOTO_MAX_BYTES = env_int("PHOTO_MAX_BYTES", 50 * 1024 * 1024)
# Bytes allowed after an image's end marker (phones append small trailers; polyglots are longer).
PHOTO_MAX_TRAILING_BYTES = env_int("PHOTO_MAX_TRAILING_BYTES", 4096)
# Metadata (JPEG APPn/COM, PNG ancillary chunks, WebP EXIF/XMP/ICC) allowed in one image, bytes.
PHOTO_MAX_METADATA_BYTES = env_int("PHOTO_MAX_METADATA_BYTES", 1024 * 1024)
# Make thumbnails on commit instead of queueing them for the worker (on in development).
PHOTO_DERIVATIVES_INLINE = env_bool("PHOTO_DERIVATIVES_INLINE", DEVELOPMENT)
PHOTO_SITE_TOLERANCE_M = env_float("PHOTO_SITE_TOLERANCE_M", 50.0)
# Ed25519 private key (PEM or raw 32-byte hex) and its id; rotate by changing both.
SIGNING_KEY = env("SIGNING_KEY")
# Empty: derived from the public key ("ed25519:<16 hex of its SHA-256>").
SIGNING_KEY_ID = env("SIGNING_KEY_ID", "")
# Rotated-out public keys still needed to verify old signatures: JSON {key_id: hex or PEM}.
SIGNING_PUBLIC_KEYS = env("SIGNING_PUBLIC_KEYS", "{}")
SIGNATURE_IMAGE_MAX_BYTES = env_int("SIGNATURE_IMAGE_MAX_BYTES", 1024 * 1024)
REPORT_FONT_PATH = env("REPORT_FONT_PATH", "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")
PUBLIC_BASE_URL = env("PUBLIC_BASE_URL", "http://127.0.0.1:8000")

# Exports and red-line imports (backend.exports).
EXPORTS_ROOT = Path(env("EXPORTS_ROOT", str(BASE_DIR / "var" / "exports")))
IMPORTS_ROOT = Path(env("IMPORTS_ROOT", str(BASE_DIR / "var" / "imports")))
EXPORT_TTL_HOURS = env_int("EXPORT_TTL_HOURS", 24)
EXPORT_TIMEOUT_SECONDS = env_int("EXPORT_TIMEOUT_SECONDS", 3600)
OGR2OGR = env("OGR2OGR", "ogr2ogr")
IMPORT_MAX_BYTES = env_int("IMPORT_MAX_BYTES", 50 * 1024 * 1024)
IMPORT_MAX_FEATURES = env_int("IMPORT_MAX_FEATURES", 1000)
# Run exports and read imports on commit instead of in the worker (on in development).
EXPORTS_INLINE = env_bool("EXPORTS_INLINE", DEVELOPMENT)

# Webhooks and the event feed (backend.events).
# Host patterns (fnmatch, comma-separated) webhook URLs may name; "*" is any public host.
WEBHOOK_ALLOWED_HOSTS = [h.strip().lower() for h in env("WEBHOOK_ALLOWED_HOSTS", "*").split(",") if h.strip()]
# Networks (CIDR, comma-separated) that may be called although not public, e.g. 127.0.0.0/8 in tests.
WEBHOOK_ALLOWED_NETWORKS = [n.strip() for n in env("WEBHOOK_ALLOWED_NETWORKS", "").split(",") if n.strip()]
WEBHOOK_TIMEOUT_SECONDS = env_float("WEBHOOK_TIMEOUT_SECONDS", 10.0)
WEBHOOK_MAX_RESPONSE_BYTES = env_int("WEBHOOK_MAX_RESPONSE_BYTES", 64 * 1024)
WEBHOOK_MAX_REDIRECTS = env_int("WEBHOOK_MAX_REDIRECTS", 0)
# Retries: base × factor^(n-1) seconds, capped, ±25 % jitter; the 10th failure dead-letters (~22 h).
WEBHOOK_MAX_ATTEMPTS = env_int("WEBHOOK_MAX_ATTEMPTS", 10)
WEBHOOK_RETRY_BASE_SECONDS = env_float("WEBHOOK_RETRY_BASE_SECONDS", 10.0)
WEBHOOK_RETRY_FACTOR = env_float("WEBHOOK_RETRY_FACTOR", 4.0)
WEBHOOK_RETRY_MAX_DELAY_SECONDS = env_float("WEBHOOK_RETRY_MAX_DELAY_SECONDS", 6 * 3600.0)
# A subscription failing without a success for this long is paused and its owners told.
WEBHOOK_PAUSE_AFTER_SECONDS = env_int("WEBHOOK_PAUSE_AFTER_SECONDS", 3 * 86400)
# How long a rotated-out secret still signs (both signatures are sent).
WEBHOOK_SECRET_OVERLAP_SECONDS = env_int("WEBHOOK_SECRET_OVERLAP_SECONDS", 86400)
# Lifetime of the signed opinion-PDF link in inspection events.
WEBHOOK_REPORT_LINK_SECONDS = env_int("WEBHOOK_REPORT_LINK_SECONDS", 86400)
WEBHOOK_REPLAY_MAX_EVENTS = env_int("WEBHOOK_REPLAY_MAX_EVENTS", 10_000)
WEBHOOK_RELAY_BATCH = env_int("WEBHOOK_RELAY_BATCH", 500)
WEBHOOK_DRAIN_BUDGET = env_int("WEBHOOK_DRAIN_BUDGET", 200)
WEBHOOK_SWEEP_MAX_PAIRS = env_int("WEBHOOK_SWEEP_MAX_PAIRS", 10_000)

# Device tokens and login throttling.
TOKEN_TTL_DAYS = env_int("TOKEN_TTL_DAYS", 30)
LOGIN_THROTTLE_RATE = env("LOGIN_THROTTLE_RATE", "10/min")
API_THROTTLE_RATE = env("API_THROTTLE_RATE", "6000/min")
# Seconds a verified HTTP Basic credential (/ogc/, /tiles/) is remembered, so desktop GIS does not
# pay the password hash on every tile; 0 verifies every request.
BASIC_AUTH_CACHE_SECONDS = env_int("BASIC_AUTH_CACHE_SECONDS", 300)

# Deadlines: warning thresholds in working days before the limit.
DEADLINE_WARN_DAYS = env_int("DEADLINE_WARN_DAYS", 7)
DEADLINE_REMIND_DAYS = env_int("DEADLINE_REMIND_DAYS", 5)
DEADLINE_SUPERVISE_DAYS = env_int("DEADLINE_SUPERVISE_DAYS", 3)
STANDARD_DAYS_PRIVATE = env_int("STANDARD_DAYS_PRIVATE", 160)
STANDARD_DAYS_SIMPLE_LOW_RISK = env_int("STANDARD_DAYS_SIMPLE_LOW_RISK", 60)
STANDARD_DAYS_STATE_OWNED = env_int("STANDARD_DAYS_STATE_OWNED", 210)
# The unit of the standard times (seed 003 counts calendar days): calendar | working.
STANDARD_DAYS_UNIT = env("STANDARD_DAYS_UNIT", "calendar")
if STANDARD_DAYS_UNIT not in {"calendar", "working"}:
    raise ImproperlyConfigured(f"STANDARD_DAYS_UNIT is calendar or working, not {STANDARD_DAYS_UNIT!r}.")
# Administrators are told to load the next year's holiday arrangement this many days before the
# calendar's horizon (the last day of the last year loaded).
CALENDAR_HORIZON_WARNING_DAYS = env_int("CALENDAR_HORIZON_WARNING_DAYS", 60)
# Local time (TIME_ZONE) of the daily notice run.
DEADLINE_NOTIFY_TIME = env("DEADLINE_NOTIFY_TIME", "08:30")
# Working days after which a utility request the company has not answered is notified (daily).
UTILITY_UNANSWERED_WORKING_DAYS = env_int("UTILITY_UNANSWERED_WORKING_DAYS", 5)
# Deadline notices also go by e-mail (Django's SMTP settings; a failed send is logged and
# recorded on the notification, never breaking the run).
EMAIL_BACKEND = env("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = env("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", "noreply@localhost")
# The vehicle's working hours and their zone: the free windows of a vehicle's availability.
VISIT_WORKING_HOURS = env("VISIT_WORKING_HOURS", "08:30-17:30")
VISIT_WORKING_TIME_ZONE = env("VISIT_WORKING_TIME_ZONE", "Asia/Shanghai")

# Sync limits.
SYNC_MAX_OPERATIONS = env_int("SYNC_MAX_OPERATIONS", 500)
# Pushed operations commit in chunks of this many (each operation stands alone in the chunk). One
# request's worth by default: a chunk's new rows go in one INSERT per type and its audit entries,
# events and receipts in one each, so bigger chunks are cheaper (bench_sync: 214 ops/s at 50,
# 352 at 500); a crash loses only the uncommitted chunk, which the device's retry replays.
SYNC_COMMIT_EVERY = env_int("SYNC_COMMIT_EVERY", 500)
SYNC_MAX_BODY_BYTES = env_int("SYNC_MAX_BODY_BYTES", 20 * 1024 * 1024)
# Free text of field records (descriptions, remarks, minutes …): characters per field, with
# per-field overrides as "record_type.field=chars,…" (the minutes of a survey run long).
RECORD_TEXT_MAX_CHARS = env_int("RECORD_TEXT_MAX_CHARS", 10_000)
RECORD_TEXT_MAX_CHARS_BY_FIELD = {
    key.strip(): int(value)
    for key, _, value in (
        pair.partition("=") for pair in env("RECORD_TEXT_MAX_CHARS_BY_FIELD", "survey.minutes=100000").split(",")
    )
    if key.strip() and value.strip()
}
# Structured fields of records (a utility demand, a visit's team, signature strokes), in bytes of
# canonical JSON; the same "type.field=N" overrides.
RECORD_JSON_MAX_BYTES = env_int("RECORD_JSON_MAX_BYTES", 64 * 1024)
RECORD_JSON_MAX_BYTES_BY_FIELD = {
    key.strip(): int(value)
    for key, _, value in (
        pair.partition("=") for pair in env("RECORD_JSON_MAX_BYTES_BY_FIELD", "signature.strokes=1048576").split(",")
    )
    if key.strip() and value.strip()
}
# A pull page stops at SYNC_PULL_MAX_BYTES of changes' JSON (always at least one change).
SYNC_PULL_MAX_BYTES = env_int("SYNC_PULL_MAX_BYTES", 2 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = SYNC_MAX_BODY_BYTES

# Deepest nesting of arrays/objects accepted in a JSON body (deeper → 400 json_too_deep).
JSON_MAX_DEPTH = env_int("JSON_MAX_DEPTH", 64)

CACHES = {
    # Django's Redis cache keeping its redis client (mobile_api.redis_cache: the throttle's three
    # calls a request cost ~0.17 ms of Python each in building a client).
    "default": (
        {"BACKEND": "mobile_api.redis_cache.RedisCache", "LOCATION": env("REDIS_URL")}
        if env("REDIS_URL")
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    ),
    # Whole layer answers (mobile_api.answer_cache): tiles, OGC items pages, nearby points. On
    # Redis the workers share them; a short socket timeout, so a Redis that hangs costs a live
    # answer (and a warning), not a stalled request. In memory, each worker keeps its own.
    "layers": (
        {
            # Django's, keeping its redis client (mobile_api.redis_cache: ~0.17 ms less per call).
            "BACKEND": "mobile_api.redis_cache.RedisCache",
            "LOCATION": env("REDIS_URL"),
            "KEY_PREFIX": "layers",
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
        if env("REDIS_URL")
        else {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "layers",
            "OPTIONS": {"MAX_ENTRIES": env_int("LAYERS_CACHE_MAX_ENTRIES", 2000)},
        }
    ),
}
# Seconds a layer answer is kept (its key holds the data version, so it is never served stale;
# this only bounds how long entries of old versions linger); 0: no answer cache.
LAYERS_CACHE_SECONDS = env_int("LAYERS_CACHE_SECONDS", 300)
# Largest answer stored, in bytes as sent (gzipped when the client takes gzip); bigger ones are
# computed on every request.
LAYERS_CACHE_MAX_BYTES = env_int("LAYERS_CACHE_MAX_BYTES", 1048576)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "mobile_api.authentication.DeviceTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "mobile_api.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 100,
    "DEFAULT_THROTTLE_CLASSES": ["mobile_api.throttling.UserWindowRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"user": API_THROTTLE_RATE, "login": LOGIN_THROTTLE_RATE},
    "EXCEPTION_HANDLER": "mobile_api.exceptions.problem_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "mobile_api.openapi.ProblemAutoSchema",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "mobile_api.parsers.JSONParser",
        "mobile_api.parsers.MultiPartParser",
        "mobile_api.parsers.FormParser",
    ],
    # Reverse proxies in front of the app: only then is X-Forwarded-For trusted (login throttling).
    "NUM_PROXIES": env_int("DJANGO_NUM_PROXIES", 0),
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Field approval backend API",
    "DESCRIPTION": "Joint site surveys, utility connections, joint acceptance and vehicle visits, "
    "linked to approval cases. Errors are RFC 9457 problem+json with a stable `code`.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI and ReDoc from our own static files: the docs work without internet access.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Swagger UI would otherwise send the document to validator.swagger.io for a badge.
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
    "COMPONENT_SPLIT_REQUEST": True,
    # Several models have a `status` or `stage`: give each choice set its own schema name.
    "ENUM_NAME_OVERRIDES": {
        "CaseStageEnum": "backend.cases.models.Stage",
        "AcceptanceStageEnum": "backend.acceptance.models.AcceptanceStage",
        "BlztStatusEnum": "backend.cases.models.Blzt",
        "SurveyStatusEnum": "backend.surveys.models.SurveyStatus",
        "FindingStatusEnum": "backend.surveys.models.FindingStatus",
        "UtilityRequestStatusEnum": "backend.utilities.models.UtilityRequestStatus",
        "UtilityPointStatusEnum": "backend.utilities.models.UtilityPointStatus",
        "InspectionStatusEnum": "backend.acceptance.models.InspectionStatus",
        "RectificationStatusEnum": "backend.acceptance.models.RectificationStatus",
        "VisitStatusEnum": "backend.visits.models.VisitStatus",
        "SignatureStatusEnum": "backend.signatures.models.SignatureStatus",
        "UploadStatusEnum": "backend.evidence.models.UploadStatus",
        "ExportJobStatusEnum": "backend.exports.models.JobStatus",
        "ConflictStatusEnum": "backend.sync.models.ConflictStatus",
        "UtilityTypeEnum": "backend.accounts.models.UtilityType",
        "InspectionResultEnum": "backend.acceptance.models.InspectionResult",
        "RecordableInspectionResultEnum": "mobile_api.acceptance.serializers.RECORDABLE_RESULTS",
        "BookingChannelEnum": "backend.visits.models.BookingChannel",
        "BookingRequestStatusEnum": "backend.visits.models.BookingRequestStatus",
        "EventTypeEnum": "backend.events.catalogue.EVENT_TYPE_CHOICES",
    },
    # Every operation's problem+json answers and the tus HEAD/OPTIONS: see mobile_api/openapi.py.
    "DEFAULT_GENERATOR_CLASS": "mobile_api.openapi.ProblemSchemaGenerator",
}


LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", "INFO")},
    # procrastinate announces every task registration at INFO on each command.
    "loggers": {"procrastinate": {"level": "WARNING"}},
}

SECURE_CONTENT_TYPE_NOSNIFF = True
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"

# --- Browsers: CORS, HTTPS, CSP --------------------------------------------------------------
# Web maps on other origins read the API, the layers and the tiles with a token (no cookies).
CORS_ALLOWED_ORIGINS = [o.strip() for o in env("CORS_ALLOWED_ORIGINS", "").split(",") if o.strip()]
CORS_URLS_REGEX = r"^/(api|ogc|tiles)/"
CORS_ALLOW_METHODS = ["DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"]
CORS_ALLOW_HEADERS = [
    "accept",
    "accept-language",
    "authorization",
    "content-type",
    "if-match",
    "if-none-match",
    "idempotency-key",
    "x-coord-system",
    "x-requested-with",
    "tus-resumable",
    "upload-checksum",
    "upload-concat",
    "upload-defer-length",
    "upload-length",
    "upload-metadata",
    "upload-offset",
    "x-http-method-override",
]
CORS_EXPOSE_HEADERS = [
    "ETag",
    "Location",
    "Retry-After",
    "Upload-Offset",
    "Upload-Length",
    "Upload-Metadata",
    "Upload-Expires",
    "Tus-Resumable",
    "Tus-Version",
    "Tus-Extension",
    "Tus-Max-Size",
    # OGC API – Features Part 2: the CRS of an items answer.
    "Content-Crs",
]

# Production behind HTTPS turns these on (see .env.example); development serves plain HTTP.
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", False)
# Container health checks call these over plain HTTP from inside.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
SECURE_HSTS_SECONDS = env_int("DJANGO_SECURE_HSTS_SECONDS", 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("DJANGO_SECURE_HSTS_PRELOAD", False)
# Only behind a proxy that sets X-Forwarded-Proto itself; otherwise any client could claim HTTPS.
if env_bool("DJANGO_SECURE_PROXY_SSL_HEADER", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = env_bool("DJANGO_SESSION_COOKIE_SECURE", False)
CSRF_COOKIE_SECURE = env_bool("DJANGO_CSRF_COOKIE_SECURE", False)
# Sent with every response that has none of its own. Swagger UI, ReDoc and the admin need inline
# styles and data: images; ReDoc and map libraries run workers from blob: URLs. Empty: no header.
CONTENT_SECURITY_POLICY = env(
    "DJANGO_CONTENT_SECURITY_POLICY",
    "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; "
    "worker-src 'self' blob:; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'",
)
# /admin/ only (staff): GeoDjango's map widget runs an inline script, loads OpenLayers from
# jsDelivr and shows OpenStreetMap tiles.
CONTENT_SECURITY_POLICY_ADMIN = env(
    "DJANGO_CONTENT_SECURITY_POLICY_ADMIN",
    "default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; img-src 'self' data: blob: https://tile.openstreetmap.org; "
    "worker-src 'self' blob:; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'",
)

# --- Web map (/map/) ---------------------------------------------------------------------------
# An optional XYZ raster base map under the red lines, e.g. Tianditu with a key. Our coordinates
# are WGS84/CGCS2000 (they differ by centimetres); a GCJ-02 base map (Amap, Tencent) is offset by
# hundreds of metres from them, and we do not shift data, so it is refused rather than drawn wrong.
MAP_BASE_TILES_URL = env("MAP_BASE_TILES_URL", "")
MAP_BASE_TILES_CRS = env("MAP_BASE_TILES_CRS", "cgcs2000").strip().lower()
MAP_BASE_TILES_ATTRIBUTION = env("MAP_BASE_TILES_ATTRIBUTION", "")
if MAP_BASE_TILES_CRS == "gcj02":
    raise ImproperlyConfigured(
        "MAP_BASE_TILES_CRS=gcj02 is refused: the records are stored in WGS84/CGCS2000 and are not "
        "shifted to GCJ-02, so they would sit hundreds of metres off such a base map. Use a "
        "CGCS2000 or WGS84 base map (e.g. Tianditu) or none."
    )
if MAP_BASE_TILES_CRS not in {"cgcs2000", "wgs84"}:
    raise ImproperlyConfigured(f"MAP_BASE_TILES_CRS must be cgcs2000 or wgs84, not {MAP_BASE_TILES_CRS!r}.")
_map_base_origin = ""
if MAP_BASE_TILES_URL:
    _map_base_url = urlsplit(MAP_BASE_TILES_URL)
    if _map_base_url.scheme not in {"http", "https"} or not _map_base_url.netloc:
        raise ImproperlyConfigured("MAP_BASE_TILES_URL must be an http(s) URL with {z}/{x}/{y}.")
    _map_base_origin = f" {_map_base_url.scheme}://{_map_base_url.netloc}"
# Photo thumbnails in S3 are redirects to presigned URLs on the S3 host.
_map_s3_origin = ""
if S3_BUCKET:
    _s3_url = urlsplit(S3_ENDPOINT_URL) if S3_ENDPOINT_URL else None
    _map_s3_origin = f" {_s3_url.scheme}://{_s3_url.netloc}" if _s3_url else " https://*.amazonaws.com"
# MapLibre runs its workers from blob: URLs (worker-src, and child-src for older browsers) and
# draws tile images through blob: and data: URLs; the base map's host is added when there is one.
CONTENT_SECURITY_POLICY_MAP = env(
    "DJANGO_CONTENT_SECURITY_POLICY_MAP",
    f"default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    f"img-src 'self' data: blob:{_map_base_origin}{_map_s3_origin}; connect-src 'self'{_map_base_origin}; "
    "worker-src 'self' blob:; child-src 'self' blob:; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'",
)

# GDAL 3.6 (Debian 12) cannot block network access from spatial references; clients never
# send SRS definitions here (only the declared wgs84/cgcs2000/gcj02 allow-list), so the
# warning does not apply.
SILENCED_SYSTEM_CHECKS = ["gis.W001"]
