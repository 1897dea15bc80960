"""Settings, read from the environment with safe defaults.

Every variable is listed in `.env.example` with its default.
"""

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


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
    "django.contrib.admin",
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
    "procrastinate.contrib.django",
    "backend.common",
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
    "backend.onsite",
    "mobile_api",
    "gis_layers",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "mobile_api.middleware.ProblemJsonMiddleware",
]

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

DATABASES = {
    "default": dj_database_url.parse(
        env("DATABASE_URL", "postgis://postgres@127.0.0.1:5432/fieldapproval"),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60),
        engine="django.contrib.gis.db.backends.postgis",
    )
}
# JIT compilation costs seconds on the planner's misjudged spatial plans and saves nothing here.
DATABASES["default"]["OPTIONS"] = {"connect_timeout": 10, "options": env("DATABASE_OPTIONS", "-c jit=off")}
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

# Device tokens and login throttling.
TOKEN_TTL_DAYS = env_int("TOKEN_TTL_DAYS", 30)
LOGIN_THROTTLE_RATE = env("LOGIN_THROTTLE_RATE", "10/min")
API_THROTTLE_RATE = env("API_THROTTLE_RATE", "6000/min")

# Deadlines: warning thresholds in working days before the limit.
DEADLINE_WARN_DAYS = env_int("DEADLINE_WARN_DAYS", 7)
DEADLINE_REMIND_DAYS = env_int("DEADLINE_REMIND_DAYS", 5)
DEADLINE_SUPERVISE_DAYS = env_int("DEADLINE_SUPERVISE_DAYS", 3)
STANDARD_DAYS_PRIVATE = env_int("STANDARD_DAYS_PRIVATE", 160)
STANDARD_DAYS_SIMPLE_LOW_RISK = env_int("STANDARD_DAYS_SIMPLE_LOW_RISK", 60)
STANDARD_DAYS_STATE_OWNED = env_int("STANDARD_DAYS_STATE_OWNED", 210)

# Sync limits.
SYNC_MAX_OPERATIONS = env_int("SYNC_MAX_OPERATIONS", 500)
# Pushed operations commit in chunks of this many (each in its own savepoint).
SYNC_COMMIT_EVERY = env_int("SYNC_COMMIT_EVERY", 50)
SYNC_MAX_BODY_BYTES = env_int("SYNC_MAX_BODY_BYTES", 20 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = SYNC_MAX_BODY_BYTES

CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": env("REDIS_URL")}
        if env("REDIS_URL")
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "mobile_api.authentication.DeviceTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "mobile_api.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 100,
    "DEFAULT_THROTTLE_CLASSES": ["rest_framework.throttling.UserRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"user": API_THROTTLE_RATE, "login": LOGIN_THROTTLE_RATE},
    "EXCEPTION_HANDLER": "mobile_api.exceptions.problem_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "mobile_api.openapi.ProblemAutoSchema",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "rest_framework.parsers.JSONParser",
        "rest_framework.parsers.MultiPartParser",
        "rest_framework.parsers.FormParser",
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
        "ConflictStatusEnum": "backend.sync.models.ConflictStatus",
        "UtilityTypeEnum": "backend.accounts.models.UtilityType",
        "InspectionResultEnum": "backend.acceptance.models.InspectionResult",
        "RecordableInspectionResultEnum": "mobile_api.acceptance.serializers.RECORDABLE_RESULTS",
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

# GDAL 3.6 (Debian 12) cannot block network access from spatial references; clients never
# send SRS definitions here (only the declared wgs84/cgcs2000/gcj02 allow-list), so the
# warning does not apply.
SILENCED_SYSTEM_CHECKS = ["gis.W001"]
