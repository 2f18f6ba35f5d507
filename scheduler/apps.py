from django.apps import AppConfig


class SchedulerConfig(AppConfig):
    name = "scheduler"
    verbose_name = "Scheduling"

    def ready(self):
        from . import receivers  # noqa: F401  (occasions follow user changes)
