from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "webhooks"
    verbose_name = "Delivery webhooks"

    def ready(self):
        # Listens to messaging's in-transaction signal; messaging knows nothing of webhooks.
        from . import receivers  # noqa: F401
