"""Schema postprocessing: answers every operation can give, whatever its view declares.

The 400 and 406 come before any view code runs, so no view's own schema can know of them; a
fuzzer that sends arbitrary headers reaches them on every operation. The 503 is the exception
handler's, for every view."""


def _error(description: str) -> dict:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


ANY_OPERATION = {
    "400": _error("A request Django cannot serve at all, such as a Host header outside DJANGO_ALLOWED_HOSTS"),
    "406": _error("The Accept header admits no JSON answer (the API answers application/json only)"),
    # The exception handler answers every view's database outage so (birthday/exceptions.py).
    "503": _error("The database is unavailable; retry after the Retry-After header's seconds"),
}


def document_answers_to_any_request(result, generator, request, public):
    """drf-spectacular postprocessing hook: each of ANY_OPERATION on every operation that does
    not describe that status itself."""
    for operations in result["paths"].values():
        for operation in operations.values():
            for status, response in ANY_OPERATION.items():
                operation["responses"].setdefault(status, response)
    return result
