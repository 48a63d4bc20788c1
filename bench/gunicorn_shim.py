"""The project's own WSGI application, as the bench's second gunicorn on an app node serves it.

It answers any Host (the bench reaches it on loopback, not by the site's
name) and serves /static/ through Django (the staticfiles handler, which
finds the same files collectstatic gathered): "the same bytes through
Django on gunicorn", and Django on gunicorn with nothing in front.
"""

import os

os.environ["ALLOWED_HOSTS"] = "*"

from django.contrib.staticfiles.handlers import StaticFilesHandler  # noqa: E402
from django.core.wsgi import get_wsgi_application  # noqa: E402

application = StaticFilesHandler(get_wsgi_application())
