from django.core.management.base import BaseCommand

from backend.accounts.demo import DEMO_PASSWORD, DEMO_USERS


class Command(BaseCommand):
    help = "Print the demo users and their password."

    def handle(self, *args, **options):
        self.stdout.write(f"Demo users (password for all: {DEMO_PASSWORD}):")
        for username, _org, roles, _superuser in DEMO_USERS:
            self.stdout.write(f"  {username:<18} {', '.join(roles)}")
        self.stdout.write("Admin:  http://127.0.0.1:8000/admin/   API docs: http://127.0.0.1:8000/api/docs/")
