"""Generated requests against every operation in the OpenAPI document, authenticated.

Each operation gets valid (positive) and schema-violating (negative) requests. Every response
must be below 500, carry a documented status code, and match the documented body and
content type. The run is derandomized, so a failure reproduces on the next run.
"""

import datetime
import itertools

import pytest
import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from rest_framework.test import APIClient
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from birthday.wsgi import application
from tests.factories import make_user

# Committed rows: GET /user/<id> is answered by the hot path (birthday/hot_path/), which reads
# on a connection of its own and cannot see a test's open transaction.
pytestmark = pytest.mark.django_db(transaction=True)

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
EXAMPLES_PER_MODE = 70
MINIMUM_CASES = 1000
ZONES = ["UTC", "Asia/Kathmandu", "Pacific/Kiritimati", "America/St_Johns", "Europe/Paris", "Etc/GMT+12"]
EARLIEST, LATEST = datetime.date(1900, 1, 1), datetime.date(2020, 12, 31)
_emails = itertools.count()


@pytest.fixture
def schema(settings):
    # A generous limit: the fuzz run is one token making well over a thousand requests.
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"token": "1000000/minute"}}
    document = APIClient().get("/api/schema/", {"format": "json"}).json()
    loaded = schemathesis.openapi.from_dict(document)
    loaded.app = application
    return loaded


def run_operation(operation, mode: GenerationMode, headers: dict, calls: list, plausible=False, **fixed) -> None:
    strategy = operation.as_strategy(generation_mode=mode, **fixed)
    if plausible:
        strategy = st.builds(with_plausible_values, strategy, st.sampled_from(ZONES), st.dates(EARLIEST, LATEST))

    @hypothesis_settings(
        max_examples=EXAMPLES_PER_MODE,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
        print_blob=True,
    )
    @given(case=strategy)
    def exercise(case):
        response = case.call_and_validate(headers=headers, checks=CHECKS)
        calls.append((case.operation.label, mode, response.status_code))

    exercise()


def with_plausible_values(case, zone, date):
    """The schema cannot say which strings are time zones or which dates are in range; fill those
    in (and a fresh email) so generated names and the rest of the body reach the database."""
    if isinstance(case.body, dict):
        case.body.update(timezone=zone, birthday=date.isoformat(), email=f"fuzz-{next(_emails)}@example.com")
        if case.body.get("anniversary_date") is not None:
            case.body["anniversary_date"] = date.isoformat()
    return case


USER_OPERATIONS = {"POST /user", "GET /user", "GET /user/{id}", "PUT /user/{id}", "PATCH /user/{id}", "DELETE /user/{id}"}


def test_every_operation_survives_generated_input(schema, token):
    headers = {"Authorization": f"Bearer {token}"}
    calls: list[tuple[str, GenerationMode, int]] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert USER_OPERATIONS <= {operation.label for operation in operations}
    for operation in operations:
        modes = [GenerationMode.POSITIVE]
        # An operation with no inputs (the health probes) has nothing to get wrong.
        if any(True for _ in operation.iter_parameters()) or operation.body:
            modes.append(GenerationMode.NEGATIVE)
        for mode in modes:
            run_operation(operation, mode, headers, calls)
        if "{id}" in operation.path:
            # Random ids almost never name a user; also aim valid requests at one that exists.
            existing = make_user().pk
            run_operation(operation, GenerationMode.POSITIVE, headers, calls, plausible=bool(operation.body),
                          path_parameters={"id": existing})
        elif operation.body:
            run_operation(operation, GenerationMode.POSITIVE, headers, calls, plausible=True)
    print(f"{len(calls)} generated requests")
    assert len(calls) >= MINIMUM_CASES, len(calls)
    # A run answered only by 401s, 400s or 404s would prove nothing: valid requests must get through.
    accepted = {label for label, mode, status in calls if mode is GenerationMode.POSITIVE and status < 300}
    assert USER_OPERATIONS <= accepted, accepted
