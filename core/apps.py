from django.apps import AppConfig


class CoreConfig(AppConfig):
    """What every app shares and nothing depends on below it: the clock, the calendar, the
    occasion registry, pseudonymous user references, the queue names, and (at start) the database
    pool's reconnect interval (dbpool.py)."""

    name = "core"
    verbose_name = "Core"

    def ready(self):
        from django.conf import settings

        if settings.DATABASES["default"].get("OPTIONS", {}).get("pool"):
            from .dbpool import reconnect_every

            reconnect_every(settings.DB_POOL_RECONNECT_SECONDS)
