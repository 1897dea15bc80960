"""Loaded with `-p` before pytest-django reads the settings: tests run in development mode."""

import os

os.environ.setdefault("DJANGO_DEVELOPMENT", "1")
os.environ.setdefault("DJANGO_TEST_FAST_PASSWORD_HASHER", "1")
