from rest_framework import serializers


class HolidaySerializer(serializers.Serializer):
    name = serializers.CharField(help_text="The holiday's name as in the notice, e.g. 春节.")
    start = serializers.DateField(help_text="First day off (inclusive).")
    end = serializers.DateField(help_text="Last day off (inclusive).")


class HolidaySummarySerializer(HolidaySerializer):
    days = serializers.IntegerField(help_text="Days in the range.")


class CalendarYearDocumentSerializer(serializers.Serializer):
    """The request body of `PUT calendar/years/{year}` (for the OpenAPI document).

    The service validates the raw document as a whole, so every problem is answered at once.
    """

    source = serializers.CharField(help_text="The notice it comes from, e.g. 国办发明电〔2026〕N号.")
    holidays = HolidaySerializer(many=True, help_text="Named holiday ranges inside the year; none overlap.")
    workdays = serializers.ListField(
        child=serializers.DateField(),
        required=False,
        help_text="Make-up workdays (调休上班): weekend days inside the year, outside every holiday.",
    )


class CalendarYearSerializer(serializers.Serializer):
    year = serializers.IntegerField()
    origin = serializers.ChoiceField(
        choices=["seed", "notice"], help_text="`seed`: from the chinesecalendar package; `notice`: loaded."
    )
    source = serializers.CharField()
    working_days = serializers.IntegerField(help_text="Working days of the year as stored (overrides included).")
    holidays = HolidaySummarySerializer(many=True)
    workdays = serializers.ListField(child=serializers.DateField(), help_text="Make-up workdays.")
    holiday_days = serializers.IntegerField(help_text="Days inside the holiday ranges.")
    overridden_days = serializers.ListField(
        child=serializers.DateField(), help_text="Days an administrator changed one by one; loading keeps them."
    )
    loaded_at = serializers.DateTimeField()
    loaded_by = serializers.CharField(allow_null=True, help_text="Username; null for the seed and the command.")


class CalendarStatusFields(serializers.Serializer):
    horizon = serializers.DateField(allow_null=True, help_text="The last day of the last year loaded.")
    days_to_horizon = serializers.IntegerField(allow_null=True, help_text="Calendar days from today to the horizon.")
    horizon_warning = serializers.BooleanField(
        help_text="True from CALENDAR_HORIZON_WARNING_DAYS (60) days before the horizon: load the next year."
    )
    horizon_warning_days = serializers.IntegerField()
    next_year = serializers.IntegerField(allow_null=True, help_text="The year to load next.")


class CalendarYearListSerializer(CalendarStatusFields):
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = CalendarYearSerializer(many=True)
