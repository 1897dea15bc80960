"""Write the checkout's `.env` for development, unless one exists: `make run` calls it.

With it `manage.py shell`, `createsuperuser` and the operations commands work in the checkout
without exporting anything. The file is git-ignored and readable by its owner only (it holds
the generated secret key).

    python scripts/write_dev_env.py DATABASE_URL [PATH]
"""

import os
import secrets
import sys
from pathlib import Path


def write_dev_env(path: Path, database_url: str) -> bool:
    """True if the file was written; an existing file is left as it is."""
    content = (
        "# Written by scripts/setup.sh for development; variables in the environment win over it.\n"
        "DJANGO_DEVELOPMENT=1\n"
        f"DJANGO_SECRET_KEY={secrets.token_urlsafe(50)}\n"
        f"DATABASE_URL={database_url}\n"
    )
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(content)
    return True


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    target = Path(sys.argv[2] if len(sys.argv) == 3 else Path(__file__).resolve().parent.parent / ".env")
    if write_dev_env(target, sys.argv[1]):
        print(f"[setup] wrote {target} (development settings for manage.py)")
