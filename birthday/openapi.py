"""Schema postprocessing: answers every operation can give, whatever its view declares."""

BAD_REQUEST = {
    "description": "A request Django cannot serve at all, such as a Host header outside "
                   "DJANGO_ALLOWED_HOSTS; refused before any view runs",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
}


def document_bad_request(result, generator, request, public):
    """drf-spectacular postprocessing hook: a 400 on every operation that lists none of its own."""
    for operations in result["paths"].values():
        for operation in operations.values():
            operation["responses"].setdefault("400", BAD_REQUEST)
    return result
