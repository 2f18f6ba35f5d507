"""The application image holds every app the settings install, and its commands find their files.

The image installs the project from its wheel and has no source tree (deploy/Dockerfile): an app
missing from pyproject's package list or from the Dockerfile's COPY lines is an ImportError at
start, and a config named by a path under the sources is "file not found". No Docker engine runs
here, so the files are read, not built."""

import fnmatch
import importlib.util
import re
import tomllib

import yaml
from django.conf import settings

from .conftest import DEPLOY

ROOT = DEPLOY.parent
DOCKERFILE = (DEPLOY / "Dockerfile").read_text()


def local_apps() -> set[str]:
    return {app.split(".")[0] for app in settings.INSTALLED_APPS if (ROOT / app.split(".")[0]).is_dir()}


def test_every_installed_app_is_packaged_in_the_wheel():
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]["include"]
    unpackaged = {app for app in local_apps() | {"birthday"} if not any(fnmatch.fnmatch(app, p) for p in patterns)}
    assert unpackaged == set()


def test_every_installed_app_is_copied_into_the_build_stage():
    build_stage = re.split(r"^FROM ", DOCKERFILE, flags=re.M)[1]
    copied = set(re.findall(r"^COPY (\w+) \1$", build_stage, re.M))
    assert local_apps() | {"birthday"} <= copied, (local_apps() | {"birthday"}) - copied


def gunicorn_commands():
    yield "Dockerfile", re.search(r"^CMD (\[.*\])$", DOCKERFILE, re.M).group(1)
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    for name, service in compose["services"].items():
        if "gunicorn" in str(service.get("command", "")):
            yield f"compose {name}", service["command"]
    for path in sorted((DEPLOY / "k8s").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            for container in (doc or {}).get("spec", {}).get("template", {}).get("spec", {}).get("containers", []):
                if "gunicorn" in str(container.get("command", "")):
                    yield f"{path.name} {container['name']}", container["command"]


def test_gunicorn_reads_its_config_from_the_installed_package():
    commands = list(gunicorn_commands())
    assert len(commands) >= 3
    for where, command in commands:
        if isinstance(command, str):
            command = yaml.safe_load(command)
        config = command[command.index("-c") + 1]
        assert config.startswith("python:"), f"{where}: {config} is a path into a source tree the image lacks"
        assert importlib.util.find_spec(config.removeprefix("python:")) is not None, where
