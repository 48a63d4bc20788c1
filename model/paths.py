"""Where things live on a node.

The cloud-init templates, the day-2 scripts and the tests all take these
names from here, so a path is written once. The app user owns only
MEDIA_ROOT: the releases, the `current` link and the steps' state belong to
root, the upload directory to the admin user, the build directory to the
build user that turns requirements into wheels.
"""

ADMIN_USER = "deploy"
APP_USER = "django"
BUILD_USER = "django-build"
APP_ROOT = "/srv/app"
RELEASES_DIR = f"{APP_ROOT}/releases"
CURRENT_LINK = f"{APP_ROOT}/current"
STATIC_ROOT = "/srv/static"
MEDIA_ROOT = "/srv/media"
CONFIG_DIR = "/etc/django-tiers"
APP_ENV_FILE = f"{CONFIG_DIR}/app.env"
NODE_ENV_FILE = "/run/django-tiers/node.env"
NGINX_UPSTREAM_FILE = "/etc/nginx/django-tiers/upstream.conf"
NGINX_SERVER_FILE = "/etc/nginx/django-tiers/server.conf"
NGINX_PORT80_FILE = "/etc/nginx/django-tiers/port80.conf"
NGINX_TLS_FILE = "/etc/nginx/conf.d/django-tiers-tls.conf"
ACME_WEBROOT = "/var/www/acme"
LETSENCRYPT_LIVE = "/etc/letsencrypt/live"
APP_UNIT = "django-tiers-app.service"
NODE_ENV_UNIT = "django-tiers-node-env.service"
PGDATA_UNIT = "django-tiers-pgdata.service"
NODE_ENV_SCRIPT = "/usr/local/sbin/django-tiers-node-env"
PGDATA_SCRIPT = "/usr/local/sbin/django-tiers-pgdata"
NODE_DIR = "/var/lib/django-tiers"
STATE_DIR = f"{NODE_DIR}/state"
ACTIVATION_STATE_FILE = f"{STATE_DIR}/activated"
UPLOAD_DIR = f"{NODE_DIR}/upload"
BUILD_DIR = f"{NODE_DIR}/build"
PG_VERSION = "15"
PG_MOUNT = "/mnt/pgdata"
PG_DATA_DIR = f"{PG_MOUNT}/{PG_VERSION}/main"
HEALTH_PATH = "/healthz"
DB_NAME = "django"
DB_USER = "django"
SSH_HOST_KEY = "/etc/ssh/ssh_host_ed25519_key.pub"
"""The key every deploy step pins the node by, read once, at first contact."""
