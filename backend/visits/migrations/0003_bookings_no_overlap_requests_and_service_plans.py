"""Visits get a duration and one vehicle can no longer be booked twice for overlapping times.

Existing visits get the default two hours, cut short where the vehicle's next visit starts
sooner, so that the exclusion constraint can be added over them; two live visits of one vehicle
at the very same start cannot be reconciled automatically and stop the migration, naming them.
"""

import backend.visits.models
import django.contrib.postgres.constraints
from django.contrib.postgres.operations import BtreeGistExtension
import django.contrib.postgres.fields
import django.contrib.postgres.fields.ranges
import django.db.models.deletion
import django.db.models.manager
import django.utils.timezone
import uuid
from django.conf import settings
from django.db import migrations, models


FILL_SCHEDULED_UNTIL = """
UPDATE visits_visit v
SET scheduled_until = LEAST(v.scheduled_for + interval '120 minutes', COALESCE(n.next_start, 'infinity'))
FROM (
    SELECT id, LEAD(scheduled_for) OVER (PARTITION BY vehicle_id ORDER BY scheduled_for, id) AS next_start
    FROM visits_visit
    WHERE deleted_at IS NULL AND status <> 'cancelled'
) n
WHERE n.id = v.id;
UPDATE visits_visit SET scheduled_until = scheduled_for + interval '120 minutes' WHERE scheduled_until IS NULL;
UPDATE visits_visit
SET duration_minutes = GREATEST(1, floor(extract(epoch FROM scheduled_until - scheduled_for) / 60))
WHERE scheduled_until > scheduled_for AND scheduled_until < scheduled_for + interval '120 minutes';
"""


def refuse_same_start_double_bookings(apps, schema_editor):
    Visit = apps.get_model("visits", "Visit")
    clashes = list(
        Visit._base_manager.filter(scheduled_until__lte=models.F("scheduled_for")).values_list(
            "id", "vehicle_id", "scheduled_for"
        )
    )
    if clashes:
        listed = "; ".join(f"visit {pk} (vehicle {vehicle}, {start.isoformat()})" for pk, vehicle, start in clashes)
        raise RuntimeError(
            "These visits book their vehicle at the same start as another live visit; cancel or move "
            f"them, then migrate again: {listed}"
        )


class Migration(migrations.Migration):

    dependencies = [
        ('cases', '0007_approval_item_worklist_indexes'),
        ('sites', '0003_records_skip_tombstones_by_default'),
        ('visits', '0002_records_skip_tombstones_by_default'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        BtreeGistExtension(),
        migrations.AddField(
            model_name='visit',
            name='duration_minutes',
            field=models.PositiveSmallIntegerField(default=120),
        ),
        migrations.AddField(
            model_name='visit',
            name='scheduled_until',
            field=models.DateTimeField(null=True),
        ),
        migrations.RunSQL(FILL_SCHEDULED_UNTIL, migrations.RunSQL.noop),
        migrations.RunPython(refuse_same_start_double_bookings, migrations.RunPython.noop),
        migrations.AlterField(
            model_name='visit',
            name='scheduled_until',
            field=models.DateTimeField(),
        ),
        migrations.CreateModel(
            name='BookingRequest',
            fields=[
                ('id', models.UUIDField(default=uuid.uuid4, primary_key=True, serialize=False)),
                ('version', models.PositiveIntegerField(default=1)),
                ('created_at', models.DateTimeField(db_index=True, default=django.utils.timezone.now)),
                ('updated_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('device_id', models.CharField(blank=True, max_length=100)),
                ('is_locked', models.BooleanField(default=False)),
                ('locked_at', models.DateTimeField(blank=True, null=True)),
                ('deleted_at', models.DateTimeField(blank=True, null=True)),
                ('field_versions', models.JSONField(blank=True, default=dict)),
                ('client_digest', models.CharField(blank=True, max_length=64)),
                ('purpose', django.contrib.postgres.fields.ArrayField(base_field=models.CharField(choices=[('intake', '现场受理'), ('survey', '踏勘'), ('acceptance', '验收'), ('approval', '现场审批出证')], max_length=16), size=None)),
                ('preferred_windows', models.JSONField(default=list)),
                ('channel', models.CharField(choices=[('wechat', '微信预约'), ('phone', '电话预约'), ('on_site', '现场预约')], max_length=10)),
                ('contact', models.CharField(blank=True, help_text='联系人及电话', max_length=100)),
                ('remarks', models.TextField(blank=True)),
                ('status', models.CharField(choices=[('pending', '待安排'), ('confirmed', '已确认'), ('declined', '未能安排')], default='pending', max_length=10)),
                ('decided_at', models.DateTimeField(blank=True, null=True)),
                ('decline_reason', models.TextField(blank=True)),
                ('case', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='cases.approvalcase')),
                ('created_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('decided_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('site', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='sites.site')),
                ('updated_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('visit', models.OneToOneField(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='booking_request', to='visits.visit')),
            ],
            options={
                'ordering': ['-created_at'],
            },
            managers=[
                ('all_objects', django.db.models.manager.Manager()),
                ('objects', django.db.models.manager.Manager()),
            ],
        ),
        migrations.CreateModel(
            name='ServicePlan',
            fields=[
                ('id', models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('updated_at', models.DateTimeField(auto_now=True)),
                ('month', models.DateField(help_text='The first day of the planned month.')),
                ('rule', models.JSONField()),
                ('duration_minutes', models.PositiveSmallIntegerField(default=120)),
                ('purpose', django.contrib.postgres.fields.ArrayField(base_field=models.CharField(choices=[('intake', '现场受理'), ('survey', '踏勘'), ('acceptance', '验收'), ('approval', '现场审批出证')], max_length=16), size=None)),
                ('remarks', models.TextField(blank=True)),
                ('occurrences', models.JSONField(default=list)),
                ('case', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='cases.approvalcase')),
                ('created_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('site', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='sites.site')),
                ('vehicle', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='plans', to='visits.vehicle')),
            ],
            options={
                'ordering': ['-month', '-created_at'],
            },
        ),
        migrations.AddField(
            model_name='visit',
            name='plan',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='visits', to='visits.serviceplan'),
        ),
        migrations.AddConstraint(
            model_name='visit',
            constraint=models.CheckConstraint(condition=models.Q(('scheduled_until__gt', models.F('scheduled_for'))), name='visit_ends_after_start'),
        ),
        migrations.AddConstraint(
            model_name='visit',
            constraint=django.contrib.postgres.constraints.ExclusionConstraint(condition=models.Q(('deleted_at__isnull', True), models.Q(('status', 'cancelled'), _negated=True)), expressions=[(models.F('vehicle'), '='), (backend.visits.models.TsTzRange('scheduled_for', 'scheduled_until', django.contrib.postgres.fields.ranges.RangeBoundary()), '&&')], name='visit_vehicle_no_overlap'),
        ),
        migrations.AddIndex(
            model_name='bookingrequest',
            index=models.Index(fields=['status', 'created_at'], name='visits_book_status_2fe5d8_idx'),
        ),
        migrations.AddIndex(
            model_name='serviceplan',
            index=models.Index(fields=['case', 'month'], name='visits_serv_case_id_32bcd0_idx'),
        ),
        migrations.AddIndex(
            model_name='serviceplan',
            index=models.Index(fields=['vehicle', 'month'], name='visits_serv_vehicle_5efccd_idx'),
        ),
    ]
