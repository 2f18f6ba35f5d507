"""Errors the domain raises that the API layer turns into answers."""


class ConflictError(Exception):
    """The request contradicts data that already exists (e.g. an email already taken).

    Raised by services, which know nothing of HTTP; the API's handler turns it into a 409.
    """

    def __init__(self, fields: dict[str, list[str]], detail: str = "The request conflicts with existing data."):
        super().__init__(detail)
        self.fields = fields
        self.detail = detail
