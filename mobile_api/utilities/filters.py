import django_filters

from backend.accounts.models import UtilityType
from backend.utilities.models import (
    UtilityApplication,
    UtilityPoint,
    UtilityPointStatus,
    UtilityRequest,
    UtilityRequestStatus,
)


class UtilityApplicationFilter(django_filters.FilterSet):
    # By id without checking existence: an invisible case reads like an unknown one.
    case = django_filters.UUIDFilter(field_name="case_id")
    site = django_filters.UUIDFilter(field_name="site_id")

    class Meta:
        model = UtilityApplication
        fields = ["case", "site"]


class UtilityRequestFilter(django_filters.FilterSet):
    case = django_filters.UUIDFilter(field_name="case_id")
    site = django_filters.UUIDFilter(field_name="site_id")
    application = django_filters.UUIDFilter(field_name="application_id")
    company = django_filters.UUIDFilter(field_name="company_id")
    utility_type = django_filters.ChoiceFilter(choices=UtilityType.choices)
    status = django_filters.ChoiceFilter(choices=UtilityRequestStatus.choices)

    class Meta:
        model = UtilityRequest
        fields = ["case", "site", "application", "company", "utility_type", "status"]


class UtilityPointFilter(django_filters.FilterSet):
    case = django_filters.UUIDFilter(field_name="case_id")
    request = django_filters.UUIDFilter(field_name="request_id")
    company = django_filters.UUIDFilter(field_name="company_id")
    utility_type = django_filters.ChoiceFilter(choices=UtilityType.choices)
    status = django_filters.ChoiceFilter(choices=UtilityPointStatus.choices)

    class Meta:
        model = UtilityPoint
        fields = ["case", "request", "company", "utility_type", "status"]
