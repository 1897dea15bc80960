from django.core.management.base import BaseCommand

from backend.events.delivery import deliveries_deliver_due


class Command(BaseCommand):
    help = "Attempt every due webhook delivery once, now (what the worker's sweep does each minute)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--limit", type=int, default=1000)

    def handle(self, *args, **options) -> None:
        attempted = deliveries_deliver_due(limit=options["limit"])
        self.stdout.write(f"{attempted} deliveries attempted")
