"""The API's WSGI application: `GET /user/<id>` and `POST /user` from the hot path when it can
answer exactly as Django would (birthday/hot_path/), everything else from Django."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "birthday.settings")
django_application = get_wsgi_application()


def _build():
    from birthday import hot_path

    endpoints = hot_path.build()
    return django_application if endpoints is None else hot_path.Application(endpoints, django_application)


application = _build()
