import json
import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from backend.audit.checkpoints import audit_checkpoints_export

LISTED = 20


class Command(BaseCommand):
    help = (
        "List the newest signed audit checkpoints, or export them all with their public keys as JSON "
        "(`--export FILE`, `-` for stdout) to keep outside the database."
    )

    def add_arguments(self, parser):
        parser.add_argument("--export", metavar="FILE")

    def handle(self, *args, **options):
        export = audit_checkpoints_export()
        if options["export"]:
            text = json.dumps(export, ensure_ascii=False, indent=2) + "\n"
            if options["export"] == "-":
                sys.stdout.write(text)
                return
            try:
                Path(options["export"]).write_text(text, encoding="utf-8")
            except OSError as error:
                raise CommandError(f"cannot write {options['export']}: {error}") from error
            self.stdout.write(f"{len(export['checkpoints'])} checkpoints written to {options['export']}")
            return
        for checkpoint in export["checkpoints"][-LISTED:]:
            self.stdout.write(
                f"{checkpoint['sequence']:>6}  {checkpoint['created_at']}  #{checkpoint['last_entry_id']}  "
                f"{checkpoint['entry_count']} entries  {checkpoint['last_entry_hash'][:16]}…  {checkpoint['key_id']}"
            )
