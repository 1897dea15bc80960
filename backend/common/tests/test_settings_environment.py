"""Settings come from the environment and the checkout's `.env`; production refuses to guess.

Each case runs a real `manage.py` in a subprocess with a clean environment, as a developer's
shell or a deployment would.
"""

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command

from backend.settings import BASE_DIR

sys.path.insert(0, str(BASE_DIR / "scripts"))
from write_dev_env import write_dev_env  # noqa: E402

PRINT_SETTINGS = (
    "from django.conf import settings as s; "
    "print(s.DEVELOPMENT, s.DATABASES['default']['NAME'], s.DATABASES['default']['HOST'], s.TIME_ZONE, s.SECRET_KEY)"
)


def clean_environment(**variables: str) -> dict[str, str]:
    """Only what a fresh shell has: nothing of the test run's own DJANGO_* or DATABASE_URL."""
    environment = {name: os.environ[name] for name in ("PATH", "HOME", "LANG") if name in os.environ}
    environment.update(variables)
    return environment


def manage(*arguments: str, environment: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(  # noqa: S603 - fixed command
        [sys.executable, "manage.py", *arguments],
        cwd=BASE_DIR,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_manage_py_works_with_the_env_file_setup_writes(tmp_path):
    env_file = tmp_path / ".env"
    assert write_dev_env(env_file, "postgis://postgres@db.internal:5433/fieldapproval_dev") is True
    assert env_file.stat().st_mode & 0o777 == 0o600
    lines = env_file.read_text().splitlines()
    assert lines[1:2] == ["DJANGO_DEVELOPMENT=1"]
    assert re.fullmatch(r"DJANGO_SECRET_KEY=[A-Za-z0-9_-]{60,}", lines[2])
    assert lines[3:] == ["DATABASE_URL=postgis://postgres@db.internal:5433/fieldapproval_dev"]

    result = manage(
        "shell", "-v", "0", "-c", PRINT_SETTINGS, environment=clean_environment(DJANGO_ENV_FILE=str(env_file))
    )
    assert result.returncode == 0, result.stderr
    secret = lines[2].removeprefix("DJANGO_SECRET_KEY=")
    assert result.stdout.split() == ["True", "fieldapproval_dev", "db.internal", "Asia/Shanghai", secret]


def test_an_existing_env_file_is_kept(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("DJANGO_DEVELOPMENT=1\n")
    assert write_dev_env(env_file, "postgis://postgres@127.0.0.1:5432/other") is False
    assert env_file.read_text() == "DJANGO_DEVELOPMENT=1\n"


def test_the_environment_wins_over_the_file_and_quotes_and_comments_are_read(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text(
        "# a comment\n\n"
        "export DJANGO_DEVELOPMENT=1\n"
        "DJANGO_TIME_ZONE='Asia/Urumqi'\n"
        'DJANGO_SECRET_KEY="from-the-file"\n'
        "DATABASE_URL=postgis://postgres@127.0.0.1:5432/from_file\n"
    )
    environment = clean_environment(
        DJANGO_ENV_FILE=str(env_file), DATABASE_URL="postgis://postgres@127.0.0.1:5432/from_environment"
    )
    result = manage("shell", "-v", "0", "-c", PRINT_SETTINGS, environment=environment)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "from_environment", "127.0.0.1", "Asia/Urumqi", "from-the-file"]


def test_a_malformed_env_file_is_refused_with_its_line(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("DJANGO_DEVELOPMENT=1\nnot a setting\n")
    result = manage("check", environment=clean_environment(DJANGO_ENV_FILE=str(env_file)))
    assert result.returncode == 1
    assert f"ImproperlyConfigured: {env_file}: expected NAME=value, got 'not a setting'" in result.stderr


def test_production_without_database_url_is_refused():
    environment = clean_environment(DJANGO_ENV_FILE="", DJANGO_SECRET_KEY=secrets.token_urlsafe(50))
    result = manage("check", environment=environment)
    assert result.returncode == 1
    assert result.stdout == ""
    assert (
        "django.core.exceptions.ImproperlyConfigured: DATABASE_URL is required outside development, "
        "e.g. postgis://user:password@host:5432/fieldapproval" in result.stderr
    )


def test_production_without_secret_key_is_refused():
    environment = clean_environment(DJANGO_ENV_FILE="", DATABASE_URL="postgis://postgres@127.0.0.1:5432/x")
    result = manage("check", environment=environment)
    assert result.returncode == 1
    assert "ImproperlyConfigured: DJANGO_SECRET_KEY is required outside development" in result.stderr


def documented_production_settings() -> dict[str, str]:
    """The `# production: NAME=value` lines of .env.example."""
    text = (BASE_DIR / ".env.example").read_text()
    return dict(re.findall(r"^# production: ([A-Z_]+)=(\S*)$", text, flags=re.MULTILINE))


def test_check_deploy_is_clean_with_the_documented_production_settings(tmp_path):
    production = documented_production_settings()
    assert production == {
        "DJANGO_SECURE_SSL_REDIRECT": "1",
        "DJANGO_SECURE_PROXY_SSL_HEADER": "1",
        "DJANGO_SECURE_HSTS_SECONDS": "31536000",
        "DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS": "1",
        "DJANGO_SECURE_HSTS_PRELOAD": "1",
        "DJANGO_SESSION_COOKIE_SECURE": "1",
        "DJANGO_CSRF_COOKIE_SECURE": "1",
    }
    # .env.example itself as the env file (as `cp .env.example .env` would), its defaults included.
    environment = clean_environment(
        DJANGO_ENV_FILE=str(BASE_DIR / ".env.example"),
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        DATABASE_URL="postgis://app:secret@db:5432/fieldapproval",
        DJANGO_ALLOWED_HOSTS="approval.example.org",
        **production,
    )
    result = manage("check", "--deploy", "--fail-level", "WARNING", environment=environment)
    assert result.stderr == ""
    assert result.returncode == 0
    assert result.stdout == "System check identified no issues (1 silenced).\n"


def test_check_deploy_warns_with_the_defaults():
    environment = clean_environment(
        DJANGO_ENV_FILE=str(BASE_DIR / ".env.example"),
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        DATABASE_URL="postgis://app:secret@db:5432/fieldapproval",
    )
    result = manage("check", "--deploy", "--fail-level", "WARNING", environment=environment)
    assert result.returncode == 1
    assert set(re.findall(r"\(security\.(W\d+)\)", result.stderr)) == {"W004", "W008", "W012", "W016"}


@pytest.mark.parametrize(
    ("host", "port", "url"),
    [
        ("127.0.0.1", "8000", "http://127.0.0.1:8000"),
        ("192.168.1.20", "9000", "http://192.168.1.20:9000"),
        ("0.0.0.0", "8080", "http://127.0.0.1:8080"),
        ("::1", "8001", "http://[::1]:8001"),
    ],
)
def test_run_prints_the_address_it_serves(capsys, host, port, url):
    call_command("print_demo_credentials", host=host, port=port)
    out = capsys.readouterr().out
    assert f"Admin:  {url}/admin/   API docs: {url}/api/docs/   OGC API: {url}/ogc/\n" in out
    assert "8000" not in out.replace(url, "") or port == "8000"


def test_make_run_passes_host_and_port_to_both_commands():
    result = subprocess.run(  # noqa: S603 - fixed command
        ["make", "-n", "run", "HOST=0.0.0.0", "PORT=8080"],  # noqa: S607
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    commands = result.stdout.splitlines()
    assert any(line.endswith("manage.py print_demo_credentials --host 0.0.0.0 --port 8080") for line in commands)
    assert any(line.endswith("manage.py runserver 0.0.0.0:8080") for line in commands)


def test_the_env_file_is_git_ignored():
    assert ".env" in (BASE_DIR / ".gitignore").read_text().splitlines()


@pytest.fixture(autouse=True)
def _no_checkout_env_file_changes():
    """These tests never write the checkout's own .env."""
    before = (BASE_DIR / ".env").read_bytes() if (BASE_DIR / ".env").exists() else None
    yield
    after = (BASE_DIR / ".env").read_bytes() if (BASE_DIR / ".env").exists() else None
    assert after == before


def test_setup_writes_the_env_file_before_migrating():
    script = (Path(BASE_DIR) / "scripts" / "setup.sh").read_text()
    assert script.index('scripts/write_dev_env.py "$DB_URL"') < script.index("manage.py migrate")


@pytest.mark.django_db
def test_createsuperuser_and_the_operations_commands_work_with_only_the_env_file(tmp_path, settings):
    """What the README tells a developer to run after `make run`, with no variable exported."""
    database = settings.DATABASES["default"]["NAME"]
    env_file = tmp_path / ".env"
    write_dev_env(env_file, f"postgis://postgres@127.0.0.1:5432/{database}")
    environment = clean_environment(DJANGO_ENV_FILE=str(env_file), DJANGO_SUPERUSER_PASSWORD="a-long-admin-pass-2026")
    try:
        created = manage(
            "createsuperuser",
            "--noinput",
            "--username",
            "envadmin",
            "--email",
            "a@example.org",
            environment=environment,
        )
        assert created.returncode == 0, created.stderr
        assert created.stdout == "Superuser created successfully.\n"
        for command in (["deadlines_due", "--json"], ["audit_verify"], ["print_demo_credentials"]):
            result = manage(*command, environment=environment)
            assert result.returncode == 0, (command, result.stderr)
    finally:
        removed = manage(
            "shell",
            "-v",
            "0",
            "-c",
            "from backend.accounts.models import User; print(User.objects.filter(username='envadmin').delete()[1]['accounts.User'])",
            environment=environment,
        )
        assert removed.stdout == "1\n", removed.stderr
