"""The API's WSGI application: `GET /user/<id>` from the hot path when it can answer exactly as
Django would (birthday/hot_path.py), everything else from Django."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "birthday.settings")
django_application = get_wsgi_application()


def _build():
    from birthday import hot_path

    reads = hot_path.build()
    return django_application if reads is None else hot_path.Application(reads, django_application)


application = _build()
