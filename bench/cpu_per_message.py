"""Worker CPU per delivered message, measured in-process: `python -m bench.cpu_per_message N`.

Queues N messages for N probe users, delivers them in batches of DELIVERY_BATCH_SIZE with
`messaging.delivery.deliver_batch` against VENDOR_BASE_URL (run the simulator in its own
process), and prints wall-clock throughput and CPU time per message of this process. Probe
users (emails `cpu-probe-*`) and their messages are removed before and after.
"""

import datetime
import os
import sys
import time


def main(count: int) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "birthday.settings")
    import django

    django.setup()
    from django.conf import settings

    from messaging import delivery
    from messaging.models import Message
    from core import clock
    from users.models import User

    probes = User.objects.filter(email__startswith="cpu-probe-")
    probes.delete()
    now = clock.now()
    today = now.date()
    users = User.objects.bulk_create(
        User(first_name="Cpu", last_name=f"Probe{i}", email=f"cpu-probe-{i}@example.com",
             birthday=today.replace(year=1990), timezone="UTC")
        for i in range(count)
    )
    messages = Message.objects.bulk_create(
        Message(user=user, kind="birthday", occasion_date=today, due_at=now - datetime.timedelta(minutes=1),
                status=Message.Status.QUEUED)
        for user in users
    )
    settings.SEND_HOUR = 0  # every probe message is due now
    ids = [message.id for message in messages]
    size = settings.DELIVERY_BATCH_SIZE
    wall, cpu = time.perf_counter(), time.process_time()
    for start in range(0, len(ids), size):
        delivery.deliver_batch(ids[start : start + size])
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    sent = Message.objects.filter(id__in=ids, status=Message.Status.SENT).count()
    probes.delete()
    print(f"{count} messages, {sent} sent: {count / wall:.0f} messages/s, {1000 * cpu / count:.2f} ms CPU per message "
          f"({settings.DELIVERY_CONCURRENCY} threads, batches of {size})")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3000)
