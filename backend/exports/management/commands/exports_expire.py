from django.core.management.base import BaseCommand

from backend.exports.imports import imports_expire
from backend.exports.services import exports_expire


class Command(BaseCommand):
    help = "Remove the files of expired exports and uncommitted red-line imports."

    def handle(self, *args, **options) -> None:
        exports = exports_expire()
        imports = imports_expire()
        self.stdout.write(f"expired {exports} exports, {imports} imports")
