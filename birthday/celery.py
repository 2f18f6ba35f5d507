"""The Celery application: `celery -A birthday worker` and `celery -A birthday beat`."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "birthday.settings")

app = Celery("birthday")
app.config_from_object("birthday.celeryconfig")
app.autodiscover_tasks(["scheduler", "messaging", "observability", "webhooks"])
