import django_filters

from backend.surveys.models import Finding, FindingStatus, Survey, SurveyParticipant, SurveyStatus


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

    class Meta:
        model = Finding
        fields = ["case", "survey", "responsible_department", "status", "mine"]

    def filter_mine(self, queryset, name, value):
        if not value:
            return queryset
        organization_id = getattr(self.request.user, "organization_id", None)
        if organization_id is None:
            return queryset.none()
        return queryset.filter(responsible_department_id=organization_id)
