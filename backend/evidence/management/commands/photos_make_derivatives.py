from django.core.management.base import BaseCommand

from backend.evidence.photos import photos_make_pending_derivatives


class Command(BaseCommand):
    help = "Make the thumbnail and preview of every photo still waiting (when no procrastinate worker runs)."

    def add_arguments(self, parser):
        parser.add_argument("--limit", type=int, default=None, help="At most this many photos.")

    def handle(self, *args, limit=None, **options):
        done = photos_make_pending_derivatives(limit=limit)
        self.stdout.write(f"{done} photo(s) processed")
