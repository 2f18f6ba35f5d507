from django.apps import AppConfig


class ObservabilityConfig(AppConfig):
    name = "observability"
    verbose_name = "Observability"

    def ready(self):
        # Receivers for domain signals, Celery signals and Django signals register on import.
        from . import receivers  # noqa: F401
