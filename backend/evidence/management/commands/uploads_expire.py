from django.core.management.base import BaseCommand

from backend.evidence.uploads import uploads_expire


class Command(BaseCommand):
    help = "Remove abandoned resumable uploads (past Upload-Expires): their temporary files or S3 multipart uploads."

    def handle(self, *args, **options):
        removed = uploads_expire()
        self.stdout.write(f"Removed {removed} expired upload(s).")
