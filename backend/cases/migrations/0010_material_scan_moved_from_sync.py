"""MaterialScan moves from `sync` to `cases` (it is a case material's scan, not sync state).

The rows stay: the model is created in the state only, on the existing table, which is then
renamed to `cases_materialscan`; `sync.0003` drops the old model from the state only. Audit
entries name the record type (`material_scan`), not the app, so they are unchanged. The content
type follows the model, so permissions granted on it stay.
"""

import uuid

import django.db.models.deletion
import django.db.models.manager
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


def _move_content_type(apps, schema_editor, *, source: str, target: str) -> None:
    ContentType = apps.get_model("contenttypes", "ContentType")
    if not ContentType.objects.filter(app_label=target, model="materialscan").exists():
        ContentType.objects.filter(app_label=source, model="materialscan").update(app_label=target)


def content_type_to_cases(apps, schema_editor) -> None:
    _move_content_type(apps, schema_editor, source="sync", target="cases")


def content_type_to_sync(apps, schema_editor) -> None:
    _move_content_type(apps, schema_editor, source="cases", target="sync")


class Migration(migrations.Migration):
    dependencies = [
        ("cases", "0009_material_outstanding_promise_index"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("sync", "0002_records_skip_tombstones_by_default"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="MaterialScan",
                    fields=[
                        ("id", models.UUIDField(default=uuid.uuid4, primary_key=True, serialize=False)),
                        ("version", models.PositiveIntegerField(default=1)),
                        ("created_at", models.DateTimeField(db_index=True, default=django.utils.timezone.now)),
                        ("updated_at", models.DateTimeField(default=django.utils.timezone.now)),
                        ("device_id", models.CharField(blank=True, max_length=100)),
                        ("is_locked", models.BooleanField(default=False)),
                        ("locked_at", models.DateTimeField(blank=True, null=True)),
                        ("deleted_at", models.DateTimeField(blank=True, null=True)),
                        ("field_versions", models.JSONField(blank=True, default=dict)),
                        ("client_digest", models.CharField(blank=True, max_length=64)),
                        ("sha256", models.CharField(max_length=64)),
                        (
                            "content_type",
                            models.CharField(
                                choices=[("application/pdf", "PDF"), ("image/jpeg", "JPEG")], max_length=32
                            ),
                        ),
                        ("filename", models.CharField(blank=True, max_length=255)),
                        ("page_count", models.PositiveIntegerField(blank=True, null=True)),
                        ("note", models.TextField(blank=True)),
                        ("visit_id", models.UUIDField(blank=True, null=True)),
                        (
                            "case",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.PROTECT, related_name="+", to="cases.approvalcase"
                            ),
                        ),
                        (
                            "created_by",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="+",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                        (
                            "item",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.PROTECT, related_name="+", to="cases.approvalitem"
                            ),
                        ),
                        (
                            "material",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="+",
                                to="cases.material",
                            ),
                        ),
                        (
                            "updated_by",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="+",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                    ],
                    options={
                        "db_table": "sync_materialscan",
                        "ordering": ["created_at", "id"],
                        "abstract": False,
                        "base_manager_name": "all_objects",
                        "default_manager_name": "objects",
                        "indexes": [
                            models.Index(fields=["case", "created_at"], name="material_scan_case_idx"),
                            models.Index(fields=["item"], name="material_scan_item_idx"),
                        ],
                        "constraints": [
                            models.CheckConstraint(
                                condition=models.Q(("sha256__regex", "^[0-9a-f]{64}$")), name="material_scan_sha256_hex"
                            )
                        ],
                    },
                    managers=[
                        ("all_objects", django.db.models.manager.Manager()),
                        ("objects", django.db.models.manager.Manager()),
                    ],
                ),
            ],
        ),
        migrations.AlterModelTable(name="materialscan", table=None),
        migrations.RunPython(content_type_to_cases, content_type_to_sync),
    ]
