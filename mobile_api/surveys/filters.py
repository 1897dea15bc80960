import django_filters

from backend.common.errors import ValidationFailed
from backend.surveys.models import Finding, FindingStatus, Survey, SurveyParticipant, SurveyStatus
from backend.surveys.selectors import findings_overdue


class SurveyFilter(django_filters.FilterSet):
    # By id, without checking that the case exists: an invisible case reads like an unknown one.
    case = django_filters.UUIDFilter(field_name="case_id")
    site = django_filters.UUIDFilter(field_name="site_id")
    status = django_filters.MultipleChoiceFilter(choices=SurveyStatus.choices)

    class Meta:
        model = Survey
        fields = ["case", "site", "status"]


class SurveyParticipantFilter(django_filters.FilterSet):
    survey = django_filters.UUIDFilter(field_name="survey_id")
    case = django_filters.UUIDFilter(field_name="case_id")
    department = django_filters.UUIDFilter(field_name="department_id")

    class Meta:
        model = SurveyParticipant
        fields = ["survey", "case", "department"]


class FindingFilter(django_filters.FilterSet):
    case = django_filters.UUIDFilter(field_name="case_id")
    survey = django_filters.UUIDFilter(field_name="survey_id")
    responsible_department = django_filters.UUIDFilter(field_name="responsible_department_id")
    status = django_filters.MultipleChoiceFilter(choices=FindingStatus.choices)
    mine = django_filters.BooleanFilter(
        method="filter_mine", label="Only findings my organisation is responsible for (my follow-up list)."
    )
    # A value other than true/false is refused (a BooleanFilter would silently ignore it).
    overdue = django_filters.CharFilter(
        method="filter_overdue", label="true: only open findings past their due date; false: the others."
    )

    class Meta:
        model = Finding
        fields = ["case", "survey", "responsible_department", "status", "mine", "overdue"]

    def filter_overdue(self, queryset, name, value):
        if value.lower() not in {"true", "false", "1", "0"}:
            raise ValidationFailed("overdue is true or false.", errors={"overdue": ["Expected true or false."]})
        overdue = findings_overdue(queryset)
        return overdue if value.lower() in {"true", "1"} else queryset.exclude(pk__in=overdue.values("pk"))

    def filter_mine(self, queryset, name, value):
        if not value:
            return queryset
        organization_id = getattr(self.request.user, "organization_id", None)
        if organization_id is None:
            return queryset.none()
        return queryset.filter(responsible_department_id=organization_id)
