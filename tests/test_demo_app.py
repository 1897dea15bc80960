"""The demo world is a development-only app: production has neither its commands nor its data."""

import os
import subprocess
import sys

import pytest
from django.apps import apps

from backend.settings import BASE_DIR

INSTALLED = "from django.apps import apps; print(apps.is_installed('backend.demo'))"


def _manage(*arguments: str, development: str) -> subprocess.CompletedProcess:
    environment = {name: os.environ[name] for name in ("PATH", "HOME", "LANG") if name in os.environ}
    environment |= {
        "DJANGO_ENV_FILE": "",
        "DJANGO_DEVELOPMENT": development,
        "DJANGO_SECRET_KEY": "a-production-secret-key-of-enough-length-0123456789",
        "DATABASE_URL": "postgis://postgres@127.0.0.1:5432/unused",
    }
    return subprocess.run(  # noqa: S603 - fixed command
        [sys.executable, "manage.py", *arguments],
        cwd=BASE_DIR,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_tests_run_with_the_demo_app():
    assert apps.is_installed("backend.demo")


@pytest.mark.parametrize(("development", "installed"), [("1", "True"), ("0", "False")])
def test_the_demo_app_is_installed_only_in_development(development, installed):
    result = _manage("shell", "-v", "0", "-c", INSTALLED, development=development)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == installed


def test_production_has_no_demo_commands():
    listed = _manage("help", "--commands", development="0")
    assert listed.returncode == 0, listed.stderr
    commands = set(listed.stdout.split())
    assert "migrate" in commands
    assert not commands & {"seed_demo", "print_demo_credentials"}
    refused = _manage("seed_demo", development="0")
    assert refused.returncode != 0
    assert "Unknown command: 'seed_demo'" in refused.stderr
