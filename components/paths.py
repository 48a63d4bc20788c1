"""Where things live on a node.

The cloud-init templates, the day-2 scripts and the tests all take these
names from here, so a path is written once.
"""

ADMIN_USER = "deploy"
APP_USER = "django"
APP_ROOT = "/srv/app"
RELEASES_DIR = f"{APP_ROOT}/releases"
CURRENT_LINK = f"{APP_ROOT}/current"
STATIC_ROOT = "/srv/static"
MEDIA_ROOT = "/srv/media"
CONFIG_DIR = "/etc/django-tiers"
APP_ENV_FILE = f"{CONFIG_DIR}/app.env"
NODE_ENV_FILE = "/run/django-tiers/node.env"
NGINX_UPSTREAM_FILE = "/etc/nginx/django-tiers/upstream.conf"
APP_UNIT = "django-tiers-app.service"
NODE_ENV_UNIT = "django-tiers-node-env.service"
PGDATA_UNIT = "django-tiers-pgdata.service"
PG_VERSION = "15"
PG_MOUNT = "/mnt/pgdata"
PG_DATA_DIR = f"{PG_MOUNT}/{PG_VERSION}/main"
HEALTH_PATH = "/healthz"
UPLOAD_DIR = "/tmp"
DB_NAME = "django"
DB_USER = "django"
