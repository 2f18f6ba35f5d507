"""A bare WSGI hello-world, served by the API's own server command: the ceiling any Django view
under that server can reach on this machine (`bin/bench compare` measures it beside the API)."""

BODY = b'{"hello":"world"}'
HEADERS = [("Content-Type", "application/json"), ("Content-Length", str(len(BODY)))]


def app(environ, start_response):
    start_response("200 OK", HEADERS)
    return [BODY]


application = app
