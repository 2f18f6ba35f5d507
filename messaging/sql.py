"""Parameters for hand-written SQL, stored exactly as the ORM stores them.

On SQLite the ORM writes datetimes as naive UTC text; a raw parameter would keep its offset and
never compare equal to an ORM-written value (the delivery lease guard compares for equality).
PostgreSQL takes the values as they are.
"""

import datetime

from django.db import connection


def db_value(value):
    if isinstance(value, datetime.datetime):
        return connection.ops.adapt_datetimefield_value(value)
    if isinstance(value, datetime.date):
        return connection.ops.adapt_datefield_value(value)
    return value


def db_values(values) -> list:
    return [db_value(value) for value in values]
