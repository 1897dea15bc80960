"""MaterialScan now lives in `cases` (see cases.0010): drop it from sync's state only; the table
and its rows stay, renamed by cases.0010."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("sync", "0002_records_skip_tombstones_by_default"),
        ("cases", "0010_material_scan_moved_from_sync"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="MaterialScan")],
        ),
    ]
