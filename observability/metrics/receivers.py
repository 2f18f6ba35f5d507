"""Connects every metrics source; imported from observability/receivers.py in every process."""

from . import cost, database, external, messages, queue, scheduler, security, users, workers  # noqa: F401
from . import webhooks  # noqa: F401
from . import exposition  # noqa: F401  (Celery worker/beat servers)
from . import multiproc, runtime

database.install()
if multiproc.current_service() in ("api", "local"):
    exposition.initialise_process(multiproc.current_service())
else:
    runtime.start_process_probes()
