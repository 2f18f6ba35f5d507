"""The API's WSGI application: `GET /user/<id>` and `POST /user` from the hot path when it can
answer exactly as Django would (birthday/hot_path/), everything else from Django."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "birthday.settings")
django_application = get_wsgi_application()


def without_head_bodies(app):
    """A HEAD answer is the GET answer's status and headers without its body (RFC 9110 9.3.2).
    Django renders the body anyway, and gunicorn dropped it with a warning line per request."""

    def serve(environ, start_response):
        answer = app(environ, start_response)
        if environ.get("REQUEST_METHOD") != "HEAD":
            return answer
        close = getattr(answer, "close", None)
        if close is not None:
            close()  # Django's request_finished: connections go back as after any answer
        return []

    return serve


def _build():
    from birthday import hot_path

    endpoints = hot_path.build()
    return django_application if endpoints is None else hot_path.Application(endpoints, django_application)


application = without_head_bodies(_build())
