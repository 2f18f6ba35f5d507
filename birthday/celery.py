"""The Celery application: `celery -A birthday worker` and `celery -A birthday beat`.

What a Celery process sets up when it starts lives here, in signal handlers, not at import:
importing this module (the API and management commands do, to publish) starts nothing.
"""

import os

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "birthday.settings")

# The services whose processes this app starts, named as the Celery command that starts them.
SERVICES = ("worker", "beat")


def _running_service() -> str | None:
    """'worker' or 'beat' when this process is that Celery command, asked of the command line
    framework that is running it (click), else None (an API process, a test, a shell)."""
    import click

    context = click.get_current_context(silent=True)
    name = context.command.name if context is not None and context.command is not None else None
    return name if name in SERVICES else None


@signals.import_modules.connect(weak=False)
def _on_process_start(sender=None, **kwargs):
    """A worker or beat process is starting: the first thing it does, before Django is set up
    (this receiver is connected before the app, so before Celery's Django fixup), so before
    prometheus_client is imported; the metrics multiprocess directory must be known by then."""
    service = _running_service()
    if service is None:
        return
    from django.conf import settings

    from observability.metrics import multiproc

    multiproc.configure(service, settings.VAR_DIR)


app = Celery("birthday")
app.config_from_object("birthday.celeryconfig")
app.autodiscover_tasks(["scheduler", "messaging", "observability", "webhooks"])


@app.on_after_configure.connect(weak=False)
def _prepare_embedded_broker(sender=None, **kwargs):
    """The filesystem broker (no RabbitMQ) needs its folders before the first publish or consume."""
    from django.conf import settings

    if settings.BROKER_IS_AMQP:
        return
    for sub in ("out", "processed", "control"):
        (settings.EMBEDDED_BROKER_DIR / sub).mkdir(parents=True, exist_ok=True)
