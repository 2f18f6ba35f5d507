"""Settings for the "Django floor" limit (`bin/bench compare`): the production settings, with one
more route (bench/floor_urls.py). Only the benchmark starts a server with them."""

from birthday.settings import *  # noqa: F403

ROOT_URLCONF = "bench.floor_urls"
