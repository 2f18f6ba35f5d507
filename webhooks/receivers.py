from django.dispatch import receiver

from messaging import signals as messaging_signals

from . import services


@receiver(messaging_signals.messages_terminal, dispatch_uid="webhooks.outbox")
def _write_outbox(sender, rows, **kwargs):
    services.record_message_events(rows=rows)
