"""Loaded with `-p` before pytest-django reads the settings: tests run in development mode."""

import os

os.environ.setdefault("DJANGO_DEVELOPMENT", "1")
