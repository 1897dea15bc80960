from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from backend.audit.checkpoints import AuditChainBroken, audit_checkpoint_create


class Command(BaseCommand):
    help = (
        "Sign the audit chain's head (last entry id, its hash, entry count, time) with the server's "
        "Ed25519 key; the procrastinate worker does this every 10 minutes (audit.checkpoint)."
    )

    def handle(self, *args, **options):
        try:
            checkpoint = audit_checkpoint_create()
        except AuditChainBroken as error:
            raise CommandError(f"not signed, the chain does not verify: {error}") from error
        except ImproperlyConfigured as error:
            raise CommandError(f"not signed: {error}") from error
        if checkpoint is None:
            self.stdout.write("nothing to sign: no entry since the last checkpoint")
            return
        self.stdout.write(
            self.style.SUCCESS(
                f"checkpoint {checkpoint.sequence}: entry #{checkpoint.last_entry_id}, "
                f"{checkpoint.entry_count} entries, signed with {checkpoint.key_id}"
            )
        )
