from rest_framework import serializers

from backend.cases.models import WarningLevel


class WorkingDaysUsedSerializer(serializers.Serializer):
    items = serializers.IntegerField(help_text="Items done with a result in the period (with a due date).")
    average_used_working_days = serializers.FloatField(allow_null=True, help_text="Pauses excluded.")
    average_statutory_days = serializers.FloatField(allow_null=True)
    average_promised_days = serializers.FloatField(allow_null=True)
    used_of_statutory = serializers.FloatField(
        allow_null=True, help_text="average used ÷ average statutory working days."
    )
    over_statutory = serializers.IntegerField()
    over_promised = serializers.IntegerField()


class DepartmentWorkingDaysSerializer(WorkingDaysUsedSerializer):
    department = serializers.CharField()


class LevelCountsSerializer(serializers.Serializer):
    ok = serializers.IntegerField()
    warn7 = serializers.IntegerField()
    remind5 = serializers.IntegerField()
    supervise3 = serializers.IntegerField()
    overdue = serializers.IntegerField()
    unknown = serializers.IntegerField(help_text="Accepted, due date past the calendar's horizon.")
    not_started = serializers.IntegerField(help_text="Not accepted yet.")


class CompletionCountsSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    on_time = serializers.IntegerField()
    late = serializers.IntegerField()
    unknown = serializers.IntegerField(help_text="Done without a known due date.")


class SupervisionCountsSerializer(serializers.Serializer):
    opened = serializers.IntegerField()
    closed = serializers.IntegerField()
    acknowledged = serializers.IntegerField(help_text="Of those opened in the period.")
    responded = serializers.IntegerField(help_text="Of those opened in the period.")
    open_at_end = serializers.IntegerField()


class DeadlineStatsSerializer(serializers.Serializer):
    from_ = serializers.DateField()
    to = serializers.DateField()
    as_of = serializers.DateField(help_text="The day levels are read on: `to`, or today if it is later.")
    department = serializers.UUIDField(allow_null=True)
    levels = LevelCountsSerializer(help_text=f"Open items by level ({', '.join(WarningLevel.values)}).")
    completed = CompletionCountsSerializer()
    working_days = WorkingDaysUsedSerializer()
    working_days_by_department = DepartmentWorkingDaysSerializer(many=True)
    supervisions = SupervisionCountsSerializer()

    def get_fields(self):
        fields = super().get_fields()
        fields["from"] = fields.pop("from_")
        return fields


class FigureSerializer(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()
    dimensions = serializers.ListField(child=serializers.CharField())
    measures = serializers.ListField(child=serializers.CharField())
    rows = serializers.ListField(
        child=serializers.DictField(), help_text="One object per group: its dimensions and measures."
    )


class MissingFigureSerializer(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()
    reason = serializers.CharField()


class ServiceStatsSerializer(serializers.Serializer):
    from_ = serializers.DateField()
    to = serializers.DateField()
    as_of = serializers.DateField()
    region = serializers.CharField(allow_null=True)
    figures = FigureSerializer(many=True)
    missing = MissingFigureSerializer(many=True, help_text="Figures the seeds report whose records do not exist yet.")

    def get_fields(self):
        fields = super().get_fields()
        fields["from"] = fields.pop("from_")
        return fields
