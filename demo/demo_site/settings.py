"""Settings of the demo project, read only from environment variables.

The same variables are the contract any project deployed by django-tiers
must honour: the nodes write them into the app's environment file.
"""

import os
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent


def _env_list(name: str) -> list[str]:
    """A comma-separated variable as a list, ignoring blanks."""
    return [item.strip() for item in os.environ.get(name, "").split(",") if item.strip()]


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


SECRET_KEY = os.environ["SECRET_KEY"]
DEBUG = _env_flag("DEBUG")
ALLOWED_HOSTS = _env_list("ALLOWED_HOSTS")
CSRF_TRUSTED_ORIGINS = _env_list("CSRF_TRUSTED_ORIGINS")

# nginx terminates the client connection and says which scheme it used.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# A site with a domain is served over HTTPS (the load balancer or the web
# node terminates TLS): plain HTTP is redirected, browsers are told to keep
# to HTTPS for a year, subdomains included, and cookies travel over HTTPS
# only. /healthz stays plain: the load balancer checks it over HTTP.
SITE_HTTPS = _env_flag("SITE_HTTPS")
SECURE_SSL_REDIRECT = SITE_HTTPS
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_HSTS_SECONDS = 365 * 24 * 60 * 60 if SITE_HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = SITE_HTTPS
SESSION_COOKIE_SECURE = SITE_HTTPS
CSRF_COOKIE_SECURE = SITE_HTTPS
# HSTS preload (check security.W021) puts the domain in the browsers' built-in
# lists, for every subdomain, for months after it is withdrawn: that is the
# site owner's commitment to make, not the demo's.
SILENCED_SYSTEM_CHECKS = ["security.W021"]

INSTALLED_APPS = [
    "django.contrib.staticfiles",
    "counter",
]

MIDDLEWARE = [
    "counter.middleware.HealthCheckMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "demo_site.urls"
WSGI_APPLICATION = "demo_site.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
    }
]

# An empty DATABASE_URL leaves the database unconfigured: commands that need
# no database (collectstatic, check) still run on a node that has none yet.
DATABASES = {"default": dj_database_url.config(conn_max_age=60, conn_health_checks=True)}
if DATABASES["default"].get("ENGINE", "").endswith("postgresql"):
    DATABASES["default"].setdefault("OPTIONS", {})["connect_timeout"] = 5
# DATABASE_POOLING=transaction: DATABASE_URL is PgBouncer pooling per
# transaction, where a connection's session state does not outlive a
# transaction. So no server-side cursors (a cursor outlives the transaction
# that declared it) and no prepared statements (psycopg prepares a query it
# sees often, on whichever server connection it had). Persistent
# connections stay: they are to PgBouncer, which shares its server ones.
DATABASE_POOLING = os.environ.get("DATABASE_POOLING", "").strip()
if DATABASE_POOLING == "transaction":
    DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = True
    DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = None

CACHE_LOCATIONS = _env_list("CACHE_LOCATIONS")
if CACHE_LOCATIONS:
    # Several locations make pymemcache's HashClient shard keys across the
    # cache nodes. ignore_exc turns a dead node into cache misses, not errors.
    # A node that fails is tried again after retry_timeout; failing that
    # retry (retry_attempts) takes it out of the ring for dead_timeout
    # seconds, its keys going to the other nodes (or missing, if it was the
    # only one). A restarted cache node so serves hits again within about
    # three seconds; pymemcache's default dead_timeout (60 s) kept it away
    # for up to a minute.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.memcached.PyMemcacheCache",
            "LOCATION": CACHE_LOCATIONS,
            "OPTIONS": {
                "connect_timeout": 1,
                "timeout": 1,
                "ignore_exc": True,
                "no_delay": True,
                "retry_attempts": 1,
                "retry_timeout": 1,
                "dead_timeout": 2,
            },
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Static files are named by their content (site.3f2a9c81d0b4.css), so web
# nodes can let browsers keep them for a year. The names come from the
# manifest collectstatic writes into STATIC_ROOT: on the nodes, the current
# release's own collected files; a page whose file is not in it fails.
STATIC_URL = "/static/"
STATIC_ROOT = os.environ.get("STATIC_ROOT") or None
# Media: uploads live in the stack's Spaces bucket, under MEDIA_PREFIX, so
# every app node sees the same files and a replaced droplet loses none. The
# bucket is private; the app reads a file back and serves it at /media/.
# Without MEDIA_BUCKET (a developer's machine) they go to MEDIA_ROOT on disk.
MEDIA_URL = "/media/"
MEDIA_ROOT = os.environ.get("MEDIA_ROOT", "")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"},
}
if os.environ.get("MEDIA_BUCKET"):
    STORAGES["default"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": os.environ["MEDIA_BUCKET"],
            "endpoint_url": os.environ["MEDIA_ENDPOINT_URL"],
            "region_name": os.environ.get("MEDIA_REGION") or None,
            "location": os.environ.get("MEDIA_PREFIX", "media"),
            "access_key": os.environ["MEDIA_ACCESS_KEY_ID"],
            "secret_key": os.environ["MEDIA_SECRET_ACCESS_KEY"],
            "default_acl": "private",
            "file_overwrite": False,
            "addressing_style": "path",
            "signature_version": "s3v4",
        },
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
TIME_ZONE = "UTC"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}
