"""The notice chain (seed 002): warn7 → handler; remind5 → + department heads; supervise3 → +
supervisors, daily; overdue → all, daily. In-app, and by e-mail through a real SMTP server."""

import datetime as dt
import io

import pytest
from django.core.management import call_command
from django.utils import timezone

from backend.accounts.models import Role
from backend.accounts.tests.factories import OrganizationFactory, UserFactory
from backend.cases.calendar import calendar_year_load
from backend.cases.models import ApprovalItem, Blzt
from backend.cases.notices import deadline_notices_run
from backend.cases.services import approval_item_change_status
from backend.cases.tests.factories import SHANGHAI, ApprovalItemFactory, notice_2027
from backend.cases.tests.smtp import free_port
from backend.notifications.models import Notification

pytestmark = pytest.mark.django_db

D = dt.date


@pytest.fixture
def chain():
    department = OrganizationFactory(name="市自然资源和规划局", region="370211")
    other = OrganizationFactory(name="市住房和城乡建设局", region="370211")
    people = {
        "handler": UserFactory(username="handler", organization=department, email="handler@example.cn"),
        "head": UserFactory(
            username="head", organization=department, roles=[Role.DEPARTMENT_HEAD], email="head@example.cn"
        ),
        "colleague": UserFactory(username="colleague", organization=department, email="colleague@example.cn"),
        "other_head": UserFactory(username="other_head", organization=other, roles=[Role.DEPARTMENT_HEAD]),
        "retired_head": UserFactory(
            username="retired_head", organization=department, roles=[Role.DEPARTMENT_HEAD], is_active=False
        ),
        "city_supervisor": UserFactory(
            username="city_supervisor",
            organization=OrganizationFactory(name="青岛市督查室", region="3702"),
            roles=[Role.SUPERVISOR],
            email="city@example.cn",
        ),
        "all_supervisor": UserFactory(username="all_supervisor", organization=None, roles=[Role.SUPERVISOR]),
        "far_supervisor": UserFactory(
            username="far_supervisor",
            organization=OrganizationFactory(name="淄博市督查室", region="3703"),
            roles=[Role.SUPERVISOR],
        ),
    }
    # Accepted Monday 2026-11-02, 10 working days: due Monday 2026-11-16.
    item = ApprovalItemFactory(
        name="建设工程规划许可",
        department=department,
        handler=people["handler"],
        accepted_at=dt.datetime(2026, 11, 2, 9, tzinfo=SHANGHAI),
        promised_days=10,
    )
    return people, item


def told(day: dt.date, kind: str) -> list[str]:
    return sorted(Notification.objects.filter(day=day, kind=kind).values_list("recipient__username", flat=True))


def test_each_level_reaches_exactly_its_people_once(chain):
    people, item = chain
    assert len(deadline_notices_run(as_of=D(2026, 11, 4))["sent"]) == 0  # 8 working days left
    assert told(D(2026, 11, 5), "item_warn7") == []
    deadline_notices_run(as_of=D(2026, 11, 5))  # 7 left
    assert told(D(2026, 11, 5), "item_warn7") == ["handler"]
    notice = Notification.objects.get(kind="item_warn7")
    assert notice.subject == f"item:{item.pk}"
    assert notice.title == f"预警：建设工程规划许可（{item.case.external_no}）剩余 7 个工作日"
    assert notice.data["due_date"] == "2026-11-16"
    assert notice.data["remaining_working_days"] == 7
    # warn7 is told once, not again while the item stays at the level.
    assert deadline_notices_run(as_of=D(2026, 11, 6))["sent"] == []
    deadline_notices_run(as_of=D(2026, 11, 9))  # 5 left
    assert told(D(2026, 11, 9), "item_remind5") == ["handler", "head"]
    assert deadline_notices_run(as_of=D(2026, 11, 10))["sent"] == []
    deadline_notices_run(as_of=D(2026, 11, 11))  # 3 left
    supervised = ["all_supervisor", "city_supervisor", "handler", "head"]
    assert told(D(2026, 11, 11), "item_supervise3") == supervised
    assert Notification.objects.count() == 1 + 2 + 4


def test_supervise3_again_every_working_day_and_never_twice_a_day(chain):
    deadline_notices_run(as_of=D(2026, 11, 11))
    assert deadline_notices_run(as_of=D(2026, 11, 11))["sent"] == []
    call_command("deadlines_notify", "--as-of", "2026-11-11", stdout=io.StringIO())
    assert len(told(D(2026, 11, 11), "item_supervise3")) == 4
    assert len(deadline_notices_run(as_of=D(2026, 11, 12))["sent"]) == 4
    assert len(deadline_notices_run(as_of=D(2026, 11, 13))["sent"]) == 4
    # Saturday is no working day: nobody is told.
    out = io.StringIO()
    call_command("deadlines_notify", "--as-of", "2026-11-14", stdout=out)
    assert out.getvalue() == "2026-11-14 is not a working day: no item notices.\n"
    assert Notification.objects.filter(day=D(2026, 11, 14)).count() == 0
    assert Notification.objects.filter(kind="item_supervise3").count() == 12


def test_overdue_tells_everyone_daily_and_records_the_first_overdue_day(chain):
    people, item = chain
    deadline_notices_run(as_of=D(2026, 11, 17))
    expected = ["all_supervisor", "city_supervisor", "handler", "head"]
    assert told(D(2026, 11, 17), "item_overdue") == expected
    item.refresh_from_db()
    assert item.first_overdue_on == D(2026, 11, 17)
    assert Notification.objects.filter(kind="item_overdue").first().data["first_overdue_on"] == "2026-11-17"
    deadline_notices_run(as_of=D(2026, 11, 18))
    assert told(D(2026, 11, 18), "item_overdue") == expected
    item.refresh_from_db()
    assert item.first_overdue_on == D(2026, 11, 17)


def test_a_finished_item_is_not_told_and_a_bad_date_is_refused(chain):
    people, item = chain
    ApprovalItem.objects.filter(pk=item.pk).update(
        status=Blzt.APPROVED, completed_at=dt.datetime(2026, 11, 10, 9, tzinfo=SHANGHAI)
    )
    assert deadline_notices_run(as_of=D(2026, 11, 17))["sent"] == []
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="--as-of must be a date YYYY-MM-DD, not 'tomorrow'"):
        call_command("deadlines_notify", "--as-of", "tomorrow", stdout=io.StringIO())
    assert Notification.objects.count() == 0


def test_an_item_change_tells_its_people_on_commit(chain, django_capture_on_commit_callbacks):
    calendar_year_load(year=2027, document=notice_2027(), by=None)
    people, _ = chain
    item = ApprovalItemFactory(
        department=people["handler"].organization,
        handler=people["handler"],
        status=Blzt.RECEIVED,
        promised_days=1,
    )
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        approval_item_change_status(item=item, status=Blzt.ACCEPTED, by=None)
        # Nothing is told before the change is committed.
        assert Notification.objects.count() == 0
    assert len(callbacks) >= 1
    today = timezone.localdate()
    assert told(today, "item_supervise3") == ["all_supervisor", "city_supervisor", "handler", "head"]
    with django_capture_on_commit_callbacks(execute=True):
        approval_item_change_status(item=item, status=Blzt.CORRECTION_START, by=None)
    assert Notification.objects.filter(kind="item_supervise3").count() == 4


# --- e-mail through a real SMTP server (backend.cases.tests.smtp) -------------------------


def test_notices_are_e_mailed_after_commit(chain, smtp_server, django_capture_on_commit_callbacks):
    people, item = chain
    with django_capture_on_commit_callbacks(execute=True):
        deadline_notices_run(as_of=D(2026, 11, 11))
        assert smtp_server.messages == []
    subject = f"督办：建设工程规划许可（{item.case.external_no}）剩余 3 个工作日"
    # The supervisor without an e-mail address is told in-app only.
    assert sorted(smtp_server.messages) == [
        ("deadlines@example.cn", ["city@example.cn"], subject),
        ("deadlines@example.cn", ["handler@example.cn"], subject),
        ("deadlines@example.cn", ["head@example.cn"], subject),
    ]
    emailed = Notification.objects.filter(emailed_at__isnull=False)
    assert sorted(emailed.values_list("recipient__username", flat=True)) == ["city_supervisor", "handler", "head"]
    assert Notification.objects.get(recipient=people["all_supervisor"]).emailed_at is None
    # A repeat the same day sends no second message.
    with django_capture_on_commit_callbacks(execute=True):
        deadline_notices_run(as_of=D(2026, 11, 11))
    assert len(smtp_server.messages) == 3


def test_the_daily_run_e_mails_one_digest_per_person(chain, smtp_server, django_capture_on_commit_callbacks):
    people, item = chain
    # A second item of the handler's, at warn7 the same day the first is at supervise3.
    second = ApprovalItemFactory(
        name="施工许可证核发",
        department=item.department,
        handler=people["handler"],
        accepted_at=dt.datetime(2026, 11, 3, 9, tzinfo=SHANGHAI),
        promised_days=13,
    )
    with django_capture_on_commit_callbacks(execute=True):
        result = deadline_notices_run(as_of=D(2026, 11, 11))
    kinds = sorted((n.recipient.username, n.kind) for n in result["sent"])
    assert [kind for name, kind in kinds if name == "handler"] == ["item_supervise3", "item_warn7"]
    # The handler is told of both items in one message; the others of the one item.
    digest = "待办提醒 2026-11-11：共 2 条"
    subject = f"督办：建设工程规划许可（{item.case.external_no}）剩余 3 个工作日"
    assert sorted(smtp_server.messages) == [
        ("deadlines@example.cn", ["city@example.cn"], subject),
        ("deadlines@example.cn", ["handler@example.cn"], digest),
        ("deadlines@example.cn", ["head@example.cn"], subject),
    ]
    assert smtp_server.bodies["handler@example.cn"].count("剩余") == 2
    assert f"建设工程规划许可（{item.case.external_no}）剩余 3 个工作日" in smtp_server.bodies["handler@example.cn"]
    assert f"施工许可证核发（{second.case.external_no}）剩余 7 个工作日" in smtp_server.bodies["handler@example.cn"]
    handler_notices = Notification.objects.filter(recipient=people["handler"])
    assert handler_notices.count() == 2
    assert handler_notices.filter(emailed_at__isnull=True).count() == 0
    # The next working day: supervise3 again (warn7 is told once), one message with the one notice.
    with django_capture_on_commit_callbacks(execute=True):
        deadline_notices_run(as_of=D(2026, 11, 12))
    assert len(smtp_server.messages) == 6
    assert (
        smtp_server.messages[-3:].count(
            ("deadlines@example.cn", ["handler@example.cn"], subject.replace("剩余 3", "剩余 2"))
        )
        == 1
    )


def test_a_long_digest_lists_the_first_notices_and_counts_the_rest(
    chain, smtp_server, django_capture_on_commit_callbacks, monkeypatch
):
    people, item = chain
    monkeypatch.setattr("backend.notifications.services.DIGEST_LISTED", 1)
    ApprovalItemFactory(
        department=item.department,
        handler=people["handler"],
        accepted_at=dt.datetime(2026, 11, 3, 9, tzinfo=SHANGHAI),
        promised_days=13,
    )
    with django_capture_on_commit_callbacks(execute=True):
        deadline_notices_run(as_of=D(2026, 11, 11))
    body = smtp_server.bodies["handler@example.cn"]
    assert body.count("剩余") == 1
    assert "另有 1 条，请登录系统查看。" in body
    assert Notification.objects.filter(recipient=people["handler"], emailed_at__isnull=True).count() == 0


def test_a_failed_digest_is_recorded_on_each_of_its_notices(chain, settings, django_capture_on_commit_callbacks):
    people, item = chain
    ApprovalItemFactory(
        department=item.department,
        handler=people["handler"],
        accepted_at=dt.datetime(2026, 11, 3, 9, tzinfo=SHANGHAI),
        promised_days=12,
    )
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = free_port()  # nothing listens there
    settings.EMAIL_TIMEOUT = 2
    with django_capture_on_commit_callbacks(execute=True):
        deadline_notices_run(as_of=D(2026, 11, 11))
    handler_notices = Notification.objects.filter(recipient=people["handler"])
    assert handler_notices.count() == 2
    for notice in handler_notices:
        assert notice.emailed_at is None
        assert notice.email_error.startswith("ConnectionRefusedError")
    # Everyone with an address has the failure recorded; the one without none.
    assert Notification.objects.exclude(email_error="").count() == 2 + 2
    assert Notification.objects.get(recipient=people["all_supervisor"]).email_error == ""


def test_a_failed_e_mail_is_recorded_and_never_breaks_the_run(chain, settings, django_capture_on_commit_callbacks):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = free_port()  # nothing listens there
    settings.EMAIL_TIMEOUT = 2
    with django_capture_on_commit_callbacks(execute=True):
        result = deadline_notices_run(as_of=D(2026, 11, 5))
    assert [n.recipient.username for n in result["sent"]] == ["handler"]
    notice = Notification.objects.get(kind="item_warn7")
    assert notice.emailed_at is None
    assert notice.email_error.startswith("ConnectionRefusedError")


def test_tolerance_promises_and_overdue_findings_are_told_daily(chain):
    from backend.accounts.models import OrganizationKind
    from backend.cases.models import Material
    from backend.surveys.tests.factories import FindingFactory

    people, item = chain
    builder = item.case.project.builder
    UserFactory(username="rep", organization=builder, roles=[Role.BUILDER_REPRESENTATIVE])
    UserFactory(username="builder_clerk", organization=builder, roles=[Role.OFFICIAL])
    assert builder.kind == OrganizationKind.BUILDER
    Material.objects.create(item=item, name="人防审查意见", promised_by=D(2026, 11, 6))
    Material.objects.create(item=item, name="已交材料", promised_by=D(2026, 11, 5), received_at=timezone.now())
    Material.objects.create(item=item, name="下周材料", promised_by=D(2026, 11, 9))
    FindingFactory(case=item.case, responsible_department=item.department, due_date=D(2026, 11, 5))
    FindingFactory(case=item.case, responsible_department=item.department, due_date=D(2026, 11, 6))
    deadline_notices_run(as_of=D(2026, 11, 5))
    assert told(D(2026, 11, 5), "promise_due") == []
    assert told(D(2026, 11, 5), "finding_overdue") == []
    deadline_notices_run(as_of=D(2026, 11, 6))
    assert told(D(2026, 11, 6), "promise_due") == ["handler", "rep"]
    notice = Notification.objects.get(kind="promise_due", recipient__username="rep")
    assert notice.title == f"容缺材料今日到期：人防审查意见（建设工程规划许可，{item.case.external_no}）"
    everyone = ["colleague", "handler", "head"]
    assert told(D(2026, 11, 6), "finding_overdue") == everyone
    deadline_notices_run(as_of=D(2026, 11, 6))
    assert Notification.objects.filter(day=D(2026, 11, 6), kind__in=["promise_due", "finding_overdue"]).count() == 5
    deadline_notices_run(as_of=D(2026, 11, 9))
    assert told(D(2026, 11, 9), "promise_due") == ["handler", "handler", "rep", "rep"]
    assert told(D(2026, 11, 9), "finding_overdue") == sorted(everyone * 2)
