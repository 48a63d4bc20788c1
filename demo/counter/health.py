"""What /healthz decides: a node is healthy when its database answers.

The outside hears only ok or error; what went wrong goes to the log, where
an address or an exception's text tells no visitor about the network. The
cache is not probed: a dead cache node only turns into misses.
"""

import logging

from django.db import connections

logger = logging.getLogger(__name__)


def database_ok() -> bool:
    try:
        with connections["default"].cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any failure makes the node unhealthy, none is raised
        logger.error("health check: the database does not answer: %s: %s", exc.__class__.__name__, str(exc).strip())
        return False
    return True
