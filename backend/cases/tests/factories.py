import datetime as dt
import json
from pathlib import Path

import factory

from backend.accounts.models import OrganizationKind
from backend.accounts.tests.factories import OrganizationFactory
from backend.cases.models import ApprovalCase, ApprovalItem, Blzt, InvestmentType, Project, ProjectCategory, Stage

SHANGHAI = dt.timezone(dt.timedelta(hours=8))


class ProjectFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Project

    code = factory.Sequence(lambda n: f"2404-370211-04-01-{n:06d}")
    name = factory.Sequence(lambda n: f"测试项目{n}")
    builder = factory.SubFactory(OrganizationFactory, kind=OrganizationKind.BUILDER)
    investment_type = InvestmentType.PRIVATE
    category = ProjectCategory.SOCIAL_INVESTMENT
    region_code = factory.LazyAttribute(lambda o: o.code[5:11])


class ApprovalCaseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ApprovalCase

    external_no = factory.Sequence(lambda n: f"GG-2026-{n:06d}")
    project = factory.SubFactory(ProjectFactory)
    stage = Stage.ENGINEERING_PLANNING
    status = Blzt.ACCEPTED
    opened_at = factory.LazyFunction(lambda: dt.datetime(2026, 3, 2, 9, 0, tzinfo=SHANGHAI))


class ApprovalItemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ApprovalItem

    case = factory.SubFactory(ApprovalCaseFactory)
    name = factory.Sequence(lambda n: f"审批事项{n}")
    department = factory.SubFactory(OrganizationFactory)
    statutory_days = 20
    promised_days = 10
    status = Blzt.ACCEPTED


EXAMPLE_2027 = Path(__file__).resolve().parents[1] / "fixtures" / "calendar_2027_EXAMPLE_NOT_OFFICIAL.json"


def notice_2027() -> dict:
    """The invented 2027 arrangement (not official data) as the body of PUT calendar/years/2027."""
    document = json.loads(EXAMPLE_2027.read_text(encoding="utf-8"))
    document.pop("year")
    return document
