"""The API's own request path with the endpoint's work taken out: what a GET costs before it reads
or renders anything.

`GET /bench/floor/<id>` is `GET /user/<id>`'s view with its handler replaced by a constant answer
of the same size, so the server, the middleware (request id, metrics, access line), URL
resolution, token authentication, the throttle and JSON rendering all run as they do for a user,
and nothing else does. `bin/bench compare` measures it beside the real endpoint: no change inside
the view can make the API faster than this.
"""

from django.urls import path
from rest_framework.response import Response

# Django takes the error handlers from the root URLconf: the floor's errors keep the API's JSON shape.
from birthday.urls import handler400, handler404, handler500, urlpatterns as product_urlpatterns  # noqa: F401
from users.views import UserDetailView

# A user as GET /user/<id> renders one (tests/bench/test_floor.py checks the keys match).
CONSTANT_USER = {
    "id": 1, "first_name": "Floor", "last_name": "Constant", "email": "floor@bench.example",
    "birthday": "1990-05-17", "timezone": "Europe/London", "anniversary_date": None,
    "created_at": "2026-12-02T00:00:00Z", "updated_at": "2026-12-02T00:00:00Z",
    "next_occasions": [{"type": "birthday", "local_date": "2027-05-17", "local_time": "2027-05-17T09:00:00+01:00",
                        "utc": "2027-05-17T08:00:00Z"}],
}


class FloorView(UserDetailView):
    def get(self, request, *args, **kwargs):
        return Response(CONSTANT_USER)


urlpatterns = [path("bench/floor/<str:id>", FloorView.as_view(), name="bench-floor"), *product_urlpatterns]
