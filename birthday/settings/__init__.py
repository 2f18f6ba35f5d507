"""All configuration comes from the environment (12-factor); README.md lists every variable.

One module per concern; this package composes them, so DJANGO_SETTINGS_MODULE stays
`birthday.settings`. Nothing here starts anything: process-level setup (the metrics
multiprocess directory, the embedded broker's folders, tracing) happens where each process
starts (birthday/celery.py signals, birthday/gunicorn_config.py hooks).
"""

from .base import *  # noqa: F403
from .database import *  # noqa: F403
from .cache import *  # noqa: F403
from .celery import *  # noqa: F403
from .scheduling import *  # noqa: F403
from .vendor import *  # noqa: F403
from .webhooks import *  # noqa: F403
from .api import *  # noqa: F403
from .security import *  # noqa: F403
from .observability import *  # noqa: F403
