import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from backend.audit.checkpoints import audit_checkpoints_parse, audit_verify

# A truncated log fails every checkpoint; the first few say it all.
MAX_PROBLEMS_SHOWN = 20


class Command(BaseCommand):
    help = (
        "Verify the audit log: its hash chain, and its head against the signed checkpoints "
        "(those in the database and, with --checkpoints, an export kept elsewhere)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--checkpoints", metavar="FILE", help="an export written by `audit_checkpoints --export`")

    def handle(self, *args, **options):
        exported = []
        if options["checkpoints"]:
            try:
                exported = audit_checkpoints_parse(json.loads(Path(options["checkpoints"]).read_text("utf-8")))
            except (OSError, ValueError) as error:
                raise CommandError(f"cannot read {options['checkpoints']}: {error}") from error
        report = audit_verify(exported=exported)
        if not report.is_intact:
            lines = [f"- {problem.code}: {problem.message}" for problem in report.problems[:MAX_PROBLEMS_SHOWN]]
            if len(report.problems) > MAX_PROBLEMS_SHOWN:
                lines.append(f"- … and {len(report.problems) - MAX_PROBLEMS_SHOWN} more")
            raise CommandError(
                f"audit log tampered with: {report.entry_count} entries, {len(report.checkpoints)} signed "
                f"checkpoints checked\n" + "\n".join(lines)
            )
        if report.checkpoints:
            newest = max(report.checkpoints, key=lambda checkpoint: checkpoint.sequence)
            against = (
                f"; {len(report.checkpoints)} signed checkpoints hold (newest: {newest.sequence}, "
                f"entry #{newest.last_entry_id}, {newest.created_at.isoformat()})"
            )
        else:
            against = "; no signed checkpoint yet (run `manage.py audit_checkpoint`)"
        self.stdout.write(self.style.SUCCESS(f"audit chain intact: {report.entry_count} entries{against}"))
