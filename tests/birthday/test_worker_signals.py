"""How an API worker (birthday.server.ThreadWorker) takes its quit signals.

Ctrl-C in a terminal sends SIGINT to the whole process group, so every gunicorn worker gets it
from the terminal and then SIGQUIT from the master, which is stopping them. gthread's handler
shuts the thread pool down under the pool's lock; a second signal handled inside that section
waited forever on the lock the first held, and the master SIGKILLed the worker 20 s later with
an ERROR line ("was sent SIGKILL! Perhaps out of memory?"). py-spy caught the worker there:
handle_quit → ThreadPoolExecutor.shutdown (at `_work_queue.put`) → handle_quit →
ThreadPoolExecutor.shutdown (at `with self._shutdown_lock`).
"""

import queue
import signal
import threading

import pytest
from gunicorn.config import Config
from gunicorn.glogging import Logger

from birthday.server import ThreadWorker


class _App:
    def __init__(self, cfg):
        self.cfg = cfg


@pytest.fixture
def worker():
    cfg = Config()
    cfg.set("threads", 2)
    built = ThreadWorker(0, 0, [], _App(cfg), 30, cfg, Logger(cfg))
    built.tpool = built.get_thread_pool()
    yield built
    # No pool thread was ever started (nothing was submitted), so there is none to stop.
    built.tmp.close()


class _SecondSignalOnWakeUp(queue.SimpleQueue):
    """The pool's work queue, with the second signal's handler run where the first handler is
    when it puts the pool's wake-up: inside ThreadPoolExecutor.shutdown's locked section."""

    def __init__(self, handler):
        super().__init__()
        self.handler = handler
        self.nested_calls = 0

    def put(self, item, block=True, timeout=None):
        if self.nested_calls == 0:
            self.nested_calls += 1
            try:
                self.handler(signal.SIGQUIT, None)
            except SystemExit:
                pass
        super().put(item, block, timeout)


def test_a_quit_signal_arriving_while_the_first_is_handled_does_not_hang_the_worker(worker):
    worker.tpool._work_queue = _SecondSignalOnWakeUp(worker.handle_quit)
    outcome = {}

    def first_signal():
        try:
            worker.handle_quit(signal.SIGINT, None)
        except SystemExit as exit_:
            outcome["exit"] = exit_.code

    handler = threading.Thread(target=first_signal, daemon=True)
    handler.start()
    handler.join(timeout=10)

    assert not handler.is_alive(), "the worker's quit handler is stuck: the master would SIGKILL it"
    assert outcome == {"exit": 0}
    assert worker.tpool._work_queue.nested_calls == 1
    assert worker.alive is False
