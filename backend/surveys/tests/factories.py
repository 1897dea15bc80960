import datetime as dt

import factory

from backend.accounts.tests.factories import OrganizationFactory
from backend.cases.tests.factories import ApprovalCaseFactory
from backend.surveys.models import Finding, Survey, SurveyParticipant

SHANGHAI = dt.timezone(dt.timedelta(hours=8))


class SurveyFactory(factory.django.DjangoModelFactory):
    """A survey row straight in the database (tests of reads and of later transitions)."""

    class Meta:
        model = Survey

    case = factory.SubFactory(ApprovalCaseFactory)
    scheduled_at = factory.LazyFunction(lambda: dt.datetime(2026, 3, 10, 9, 30, tzinfo=SHANGHAI))
    summary = "年产2万台新能源装备生产线项目，用地约45亩。"


class SurveyParticipantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SurveyParticipant

    survey = factory.SubFactory(SurveyFactory)
    case = factory.LazyAttribute(lambda o: o.survey.case)
    department = factory.SubFactory(OrganizationFactory)
    person_name = factory.Sequence(lambda n: f"踏勘人{n}")
    must_attend = True


class FindingFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Finding

    case = factory.SubFactory(ApprovalCaseFactory)
    description = factory.Sequence(lambda n: f"问题{n}：场地东侧现状排水沟需改移")
    responsible_department = factory.SubFactory(OrganizationFactory)
