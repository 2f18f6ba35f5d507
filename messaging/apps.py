from django.apps import AppConfig


class MessagingConfig(AppConfig):
    name = "messaging"
    verbose_name = "Messaging"

    def ready(self):
        from . import broker  # noqa: F401  (connects the topology declaration to worker/beat start)
