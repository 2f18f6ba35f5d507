from django.apps import AppConfig


class CoreConfig(AppConfig):
    """What every app shares and nothing depends on below it: the clock, the calendar, the
    occasion registry, pseudonymous user references and the queue names."""

    name = "core"
    verbose_name = "Core"
