from django.core.management.base import BaseCommand, CommandError

from backend.audit.models import AuditEntry
from backend.audit.selectors import audit_chain_first_break


class Command(BaseCommand):
    help = "Verify the hash chain of the audit log; name the first broken entry."

    def handle(self, *args, **options):
        broken, reason = audit_chain_first_break()
        if broken is not None:
            raise CommandError(
                f"audit chain broken at entry #{broken.id} ({broken.action} {broken.record_type}:{broken.record_id}): {reason}"
            )
        self.stdout.write(self.style.SUCCESS(f"audit chain intact: {AuditEntry.objects.count()} entries"))
