from django.core.management.base import BaseCommand

from backend.demo.accounts import DEMO_PASSWORD, DEMO_USERS

# Addresses that mean "every interface": a browser on this machine reaches them on loopback.
ALL_INTERFACES = {"0.0.0.0", "::", "[::]"}


def base_url(host: str, port: str) -> str:
    if host in ALL_INTERFACES:
        host = "127.0.0.1"
    elif ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{port}"


class Command(BaseCommand):
    help = "Print the demo users and their password, and where `make run` serves."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1", help="the address runserver listens on")
        parser.add_argument("--port", default="8000")

    def handle(self, *args, **options):
        url = base_url(options["host"], options["port"])
        self.stdout.write(f"Demo users (password for all: {DEMO_PASSWORD}):")
        for username, _org, roles, _superuser in DEMO_USERS:
            self.stdout.write(f"  {username:<18} {', '.join(roles)}")
        self.stdout.write(f"Admin:  {url}/admin/   API docs: {url}/api/docs/   OGC API: {url}/ogc/")
        if options["host"] in ALL_INTERFACES:
            self.stdout.write("Listening on every interface: other machines use this machine's address.")
