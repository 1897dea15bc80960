"""Writes of coordination meetings, their participants and decisions.

REST, sync push and the admin call these same functions. Every write checks who may write the
convening case (`record_check_can_write`); adding a further case or taking up a finding also
needs the right to write that case.

Lifecycle (`MEETING_TRANSITIONS`)::

    scheduled → held → closed
    scheduled → cancelled

Participants change until the meeting is closed. Decisions are recorded once the meeting is
held; a decision that `resolves_finding` resolves its finding through `finding_resolve`, in the
same transaction, so a refused resolution leaves no decision either.

Notices: a department asked to a scheduled meeting is told (MEETING_SCHEDULED, in-app and by
e-mail), and told again when the meeting moves.

Several cases (see models): after every change of a meeting or of a child record, one audit
entry `mirror:<action>` is appended under each further case, so the change feed (keyed by case)
brings it to devices that see only that case; a case newly added gets one for every live child.
"""

import datetime as dt
import uuid
from typing import Any

from django.contrib.gis.geos import Point
from django.db import transaction
from django.utils import timezone

from backend.accounts.models import Organization, User
from backend.audit.services import audit_append
from backend.cases.models import ApprovalCase
from backend.cases.services import case_organizations_add
from backend.common.errors import Conflict, RecordLocked, ValidationFailed
from backend.meetings.models import Meeting, MeetingDecision, MeetingKind, MeetingParticipant, MeetingStatus
from backend.notifications.models import NotificationKind
from backend.notifications.services import notifications_send
from backend.records.models import FieldRecord
from backend.records.registry import record_type_of
from backend.records.services import (
    record_check_can_write,
    record_create,
    record_delete,
    record_select_for_update,
    record_transition,
    record_update,
)
from backend.surveys.models import Finding, FindingStatus
from backend.surveys.selectors import department_notice_recipients
from backend.surveys.services import finding_escalate, finding_resolve

MEETING_TRANSITIONS: dict[str, set[str]] = {
    MeetingStatus.SCHEDULED: {MeetingStatus.HELD, MeetingStatus.CANCELLED},
    MeetingStatus.HELD: {MeetingStatus.CLOSED},
    MeetingStatus.CLOSED: set(),
    MeetingStatus.CANCELLED: set(),
}
MEETING_EDITABLE_FIELDS = frozenset(
    {"further_cases", "kind", "number", "title", "scheduled_at", "held_at", "place", "location", "agenda", "minutes"}
    | {"findings"}
)
PARTICIPANT_EDITABLE_FIELDS = frozenset({"person_name", "position", "attended", "remarks"})
DECISION_EDITABLE_FIELDS = frozenset({"text", "responsible_department", "due_date"})
# Participants change while the meeting is planned or being held; decisions once it is held.
PARTICIPANTS_EDITABLE_IN = frozenset({MeetingStatus.SCHEDULED, MeetingStatus.HELD})
DECISIONS_EDITABLE_IN = frozenset({MeetingStatus.HELD})


# --- shared checks ----------------------------------------------------------------------


def _refuse_fields(changes: dict[str, Any], editable: frozenset[str]) -> None:
    refused = sorted(set(changes) - editable)
    if refused:
        raise ValidationFailed(
            f"These fields cannot be written here: {', '.join(refused)}.",
            code="read_only_field",
            errors={name: ["Read-only."] for name in refused},
        )


def _uuid_list(name: str, value: Any) -> list[uuid.UUID]:
    """A list of ids, once each, sorted: the stored form, so equal lists compare equal."""
    if not isinstance(value, list | tuple):
        raise ValidationFailed(f"{name} must be a list of ids.", errors={name: ["Expected a list of ids."]})
    ids = set()
    for item in value:
        try:
            ids.add(item if isinstance(item, uuid.UUID) else uuid.UUID(str(getattr(item, "pk", item))))
        except ValueError as error:
            raise ValidationFailed(
                f"{name} must be a list of ids.", errors={name: [f"{item!r:.40} is not an id."]}
            ) from error
    return sorted(ids)


def _check_further_cases(*, by: User | None, case: ApprovalCase, further: list[uuid.UUID]) -> list[uuid.UUID]:
    further = [case_id for case_id in further if case_id != case.pk]
    if len(further) > 50:
        raise ValidationFailed("At most 50 further cases.", errors={"further_cases": ["At most 50."]})
    found = {c.pk: c for c in ApprovalCase.objects.filter(pk__in=further)}
    unknown = [str(case_id) for case_id in further if case_id not in found]
    if unknown:
        raise ValidationFailed(
            "Unknown cases.", code="invalid_case", errors={"further_cases": [f"No such case: {', '.join(unknown)}."]}
        )
    for further_case in found.values():
        record_check_can_write(user=by, case=further_case)
    return further


def _check_findings(*, case_ids: list[uuid.UUID], findings: list[uuid.UUID], added: list[uuid.UUID]) -> None:
    """Every finding taken up is of one of the meeting's cases; those `added` must exist (live)."""
    if len(findings) > 200:
        raise ValidationFailed("At most 200 findings per meeting.", errors={"findings": ["At most 200."]})
    found = {f.pk: f for f in Finding.all_objects.filter(pk__in=findings)}
    unknown = [
        str(finding_id)
        for finding_id in findings
        if finding_id not in found or (finding_id in added and found[finding_id].deleted_at is not None)
    ]
    if unknown:
        raise ValidationFailed(
            "Unknown findings.",
            code="invalid_finding",
            errors={"findings": [f"No such finding: {', '.join(unknown)}."]},
        )
    elsewhere = [str(f.pk) for f in found.values() if f.case_id not in case_ids]
    if elsewhere:
        raise ValidationFailed(
            "A meeting takes up findings of its own cases only; add the finding's case to further_cases.",
            code="finding_case_mismatch",
            errors={"findings": [f"Of another case: {', '.join(elsewhere)}."]},
        )


def _check_point(value: Any) -> None:
    if value is not None and not isinstance(value, Point):
        raise ValidationFailed(
            "location must be a Point.", code="invalid_geometry", errors={"location": ["Expected a Point."]}
        )


def _check_choice(name: str, value: Any, choices: type) -> None:
    if value not in choices.values:
        raise ValidationFailed(
            f"{value!r:.40} is not a valid {name}.", errors={name: [f"Choose one of: {', '.join(choices.values)}."]}
        )


def _mirror(*, record: FieldRecord, meeting: Meeting, action: str, by: Any, device_id: str, case_ids=None) -> None:
    """One audit entry under each of the meeting's cases other than the record's own (see the
    module docstring); `case_ids`: only these."""
    for case_id in case_ids if case_ids is not None else meeting.case_ids:
        if case_id == record.case_id:
            continue
        audit_append(
            action=f"mirror:{action}",
            record_type=record_type_of(record),
            record_id=record.pk,
            actor=by,
            device_id=device_id,
            case_id=case_id,
            version=record.version,
            reason="meeting of several cases",
        )


def _assign_to_case(case: ApprovalCase, organization: Organization | None) -> None:
    """The department asked to a meeting, or made responsible for a decision, sees its case."""
    if organization is None:
        return
    case_organizations_add(case=case, organizations=[organization])


def meeting_notice_send(*, meeting: Meeting, participant: MeetingParticipant) -> list:
    """Tell a participating department of the meeting (once per participant and meeting time)."""
    if participant.department_id is None:
        return []
    when = timezone.localtime(meeting.scheduled_at)
    place = f"，地点：{meeting.place}" if meeting.place else ""
    return notifications_send(
        recipients=department_notice_recipients(department_id=participant.department_id),
        kind=NotificationKind.MEETING_SCHEDULED,
        subject=f"meeting_participant:{participant.pk}:{meeting.scheduled_at.isoformat()}",
        day=timezone.localdate(),
        title=f"{meeting.get_kind_display()}通知：{meeting.title} {when:%Y-%m-%d %H:%M}",
        body=f"定于{when:%Y年%m月%d日 %H:%M}召开{meeting.get_kind_display()}（{meeting.title}）{place}。"
        f"{('议程：' + meeting.agenda) if meeting.agenda else ''}",
        data={
            "meeting": str(meeting.pk),
            "participant": str(participant.pk),
            "case": str(meeting.case_id),
            "scheduled_at": when.isoformat(),
        },
        once=True,
    )


def _take_up(*, meeting: Meeting, before: list[uuid.UUID], after: list[uuid.UUID], by: Any, device_id: str) -> None:
    """Findings newly taken up name the meeting; those let go stop naming it (unless a later
    meeting took them up since)."""
    for finding in Finding.objects.filter(pk__in=set(after) - set(before)).order_by("pk"):
        finding_escalate(finding=finding, meeting=meeting, by=by, device_id=device_id)
    for finding in Finding.objects.filter(pk__in=set(before) - set(after), meeting_id=meeting.pk).order_by("pk"):
        finding_escalate(finding=finding, meeting=None, by=by, device_id=device_id)


# --- meetings ---------------------------------------------------------------------------


@transaction.atomic
def meeting_create(
    *,
    by: User | None,
    case: ApprovalCase,
    title: str,
    scheduled_at: dt.datetime,
    kind: str = MeetingKind.COORDINATION,
    further_cases: list | None = None,
    number: str = "",
    held_at: dt.datetime | None = None,
    place: str = "",
    location: Point | None = None,
    agenda: str = "",
    minutes: str = "",
    findings: list | None = None,
    device_id: str = "",
    record_id: uuid.UUID | None = None,
    digest: str = "",
) -> tuple[Meeting, bool]:
    """Convene a meeting (status `scheduled`) of `case` and `further_cases`, taking up `findings`."""
    record_check_can_write(user=by, case=case)
    further = _uuid_list("further_cases", further_cases or [])
    taken_up = _uuid_list("findings", findings or [])
    fields = {
        "case": case,
        "further_cases": [c for c in further if c != case.pk],
        "kind": kind,
        "number": number,
        "title": title,
        "scheduled_at": scheduled_at,
        "held_at": held_at,
        "place": place,
        "location": location,
        "agenda": agenda,
        "minutes": minutes,
        "findings": taken_up,
    }
    if record_id is None or not Meeting.all_objects.filter(pk=record_id).exists():
        _check_choice("kind", kind, MeetingKind)
        if not isinstance(title, str) or not title.strip():
            raise ValidationFailed("A meeting needs a title.", errors={"title": ["Required."]})
        _check_point(location)
        fields["further_cases"] = _check_further_cases(by=by, case=case, further=further)
        _check_findings(case_ids=[case.pk, *fields["further_cases"]], findings=taken_up, added=taken_up)

    def after_create(meeting: Meeting) -> None:
        _take_up(meeting=meeting, before=[], after=meeting.findings, by=by, device_id=device_id)
        _mirror(record=meeting, meeting=meeting, action="create", by=by, device_id=device_id)

    return record_create(
        model=Meeting,
        fields=fields,
        by=by,
        device_id=device_id,
        record_id=record_id,
        digest=digest,
        after_create=after_create,
    )


def _children(meeting: Meeting) -> list[FieldRecord]:
    return [
        *MeetingParticipant.objects.filter(meeting=meeting).order_by("pk"),
        *MeetingDecision.objects.filter(meeting=meeting).order_by("pk"),
    ]


@transaction.atomic
def meeting_update(
    *,
    instance: Meeting,
    changes: dict[str, Any],
    by: User | None,
    device_id: str = "",
    expected_version: int | None = None,
) -> Meeting:
    """Change a meeting's content (not its status: the transitions do that)."""
    record_check_can_write(user=by, case=instance.case)
    _refuse_fields(changes, MEETING_EDITABLE_FIELDS)
    current = record_select_for_update(instance)
    if current.is_locked:
        raise RecordLocked("The meeting is signed off and locked; reopen it to change it.")
    if current.status in (MeetingStatus.CLOSED, MeetingStatus.CANCELLED):
        raise Conflict(f"A {current.status} meeting cannot be changed.", code="meeting_not_editable")
    changes = dict(changes)
    if "kind" in changes:
        _check_choice("kind", changes["kind"], MeetingKind)
    if "title" in changes and (not isinstance(changes["title"], str) or not changes["title"].strip()):
        raise ValidationFailed("A meeting needs a title.", errors={"title": ["Required."]})
    if "location" in changes:
        _check_point(changes["location"])
    if "further_cases" in changes:
        further = _uuid_list("further_cases", changes["further_cases"])
        added = [c for c in further if c not in current.further_cases]
        # Only the cases added are checked: one may keep a case one can no longer write.
        _check_further_cases(by=by, case=current.case, further=added)
        changes["further_cases"] = [c for c in further if c != current.case_id]
    case_ids = [current.case_id, *changes.get("further_cases", current.further_cases)]
    if "findings" in changes:
        changes["findings"] = _uuid_list("findings", changes["findings"])
    findings = changes.get("findings", current.findings)
    # Also when a case is dropped: what the meeting took up stays of its cases.
    _check_findings(case_ids=case_ids, findings=findings, added=[f for f in findings if f not in current.findings])
    before_version, before_scheduled_at = current.version, current.scheduled_at
    before_findings, before_cases = list(current.findings), list(current.further_cases)
    updated = record_update(
        instance=current, changes=changes, by=by, device_id=device_id, expected_version=expected_version
    )
    if updated.version == before_version:
        return updated
    if updated.status == MeetingStatus.SCHEDULED and updated.scheduled_at != before_scheduled_at:
        for participant in MeetingParticipant.objects.filter(meeting=updated, department__isnull=False):
            meeting_notice_send(meeting=updated, participant=participant)
    _take_up(meeting=updated, before=before_findings, after=updated.findings, by=by, device_id=device_id)
    _mirror(record=updated, meeting=updated, action="update", by=by, device_id=device_id)
    added_cases = [c for c in updated.further_cases if c not in before_cases]
    for child in _children(updated) if added_cases else []:
        _mirror(record=child, meeting=updated, action="case_added", by=by, device_id=device_id, case_ids=added_cases)
    return updated


@transaction.atomic
def meeting_delete(
    *, instance: Meeting, by: User | None, device_id: str = "", expected_version: int | None = None
) -> Meeting:
    """Delete a meeting convened by mistake (tombstone, with its participants); once held it stays."""
    record_check_can_write(user=by, case=instance.case)
    current = record_select_for_update(instance)
    if current.deleted_at is not None:
        return current
    if current.status not in (MeetingStatus.SCHEDULED, MeetingStatus.CANCELLED):
        raise Conflict(
            f"A meeting that is {current.status} cannot be deleted; its record stays.", code="meeting_not_deletable"
        )
    deleted = record_delete(instance=current, by=by, device_id=device_id, expected_version=expected_version)
    _mirror(record=deleted, meeting=deleted, action="delete", by=by, device_id=device_id)
    for participant in MeetingParticipant.objects.filter(meeting=current):
        gone = record_delete(instance=participant, by=by, device_id=device_id)
        _mirror(record=gone, meeting=deleted, action="delete", by=by, device_id=device_id)
    _take_up(meeting=deleted, before=list(deleted.findings), after=[], by=by, device_id=device_id)
    return deleted


def _meeting_transition(
    *, meeting: Meeting, to: str, by: Any, device_id: str, expected_version: int | None, extra: dict | None = None
) -> Meeting:
    moved = record_transition(
        instance=meeting,
        field_name="status",
        to=to,
        allowed=MEETING_TRANSITIONS,
        by=by,
        device_id=device_id,
        expected_version=expected_version,
        extra_changes=extra,
    )
    _mirror(record=moved, meeting=moved, action=f"transition:{to}", by=by, device_id=device_id)
    return moved


@transaction.atomic
def meeting_hold(
    *,
    meeting: Meeting,
    by: User | None,
    held_at: dt.datetime | None = None,
    minutes: str | None = None,
    device_id: str = "",
    expected_version: int | None = None,
) -> Meeting:
    """scheduled → held: the meeting took place (`held_at` defaults to now); decisions may follow."""
    record_check_can_write(user=by, case=meeting.case)
    current = record_select_for_update(meeting)
    extra: dict[str, Any] = {"held_at": held_at or current.held_at or timezone.now()}
    if minutes is not None:
        extra["minutes"] = minutes
    return _meeting_transition(
        meeting=current,
        to=MeetingStatus.HELD,
        by=by,
        device_id=device_id,
        expected_version=expected_version,
        extra=extra,
    )


@transaction.atomic
def meeting_close(
    *, meeting: Meeting, by: User | None, device_id: str = "", expected_version: int | None = None
) -> Meeting:
    """held → closed (archived): the minutes are final; a meeting without minutes is not closed."""
    record_check_can_write(user=by, case=meeting.case)
    current = record_select_for_update(meeting)
    if current.status == MeetingStatus.HELD and not current.minutes.strip():
        raise ValidationFailed(
            "Record the minutes before closing the meeting.", code="minutes_required", errors={"minutes": ["Required."]}
        )
    return _meeting_transition(
        meeting=current, to=MeetingStatus.CLOSED, by=by, device_id=device_id, expected_version=expected_version
    )


@transaction.atomic
def meeting_cancel(
    *, meeting: Meeting, by: User | None, reason: str, device_id: str = "", expected_version: int | None = None
) -> Meeting:
    """scheduled → cancelled; a reason is required. The findings it took up are let go."""
    record_check_can_write(user=by, case=meeting.case)
    if not isinstance(reason, str) or not reason.strip():
        raise ValidationFailed(
            "A reason is required to cancel.", code="reason_required", errors={"reason": ["Required."]}
        )
    cancelled = _meeting_transition(
        meeting=meeting,
        to=MeetingStatus.CANCELLED,
        by=by,
        device_id=device_id,
        expected_version=expected_version,
        extra={"cancel_reason": reason.strip()},
    )
    _take_up(meeting=cancelled, before=list(cancelled.findings), after=[], by=by, device_id=device_id)
    return cancelled


# --- participants -----------------------------------------------------------------------


def _select_editable_meeting_for_update(meeting: Meeting, editable_in: frozenset[str], what: str) -> Meeting:
    current = record_select_for_update(meeting)
    if current.deleted_at is not None:
        raise ValidationFailed("The meeting was deleted.", code="record_deleted", status=410)
    if current.is_locked:
        raise RecordLocked("The meeting is signed off and locked; reopen it to change it.")
    if current.status not in editable_in:
        raise Conflict(f"The {what} of a {current.status} meeting cannot be changed.", code="meeting_not_editable")
    return current


def _check_text(fields: dict[str, Any], *names: str) -> None:
    for name in names:
        if name in fields and not isinstance(fields[name], str):
            raise ValidationFailed(f"{name} must be text.", errors={name: ["Expected text."]})


@transaction.atomic
def meeting_participant_create(
    *,
    by: User | None,
    meeting: Meeting,
    department: Organization | None = None,
    person_name: str = "",
    position: str = "",
    attended: bool = False,
    remarks: str = "",
    device_id: str = "",
    record_id: uuid.UUID | None = None,
    digest: str = "",
) -> tuple[MeetingParticipant, bool]:
    """Ask a department or a person to the meeting; the department is assigned to the case."""
    record_check_can_write(user=by, case=meeting.case)
    fields = {
        "case_id": meeting.case_id,
        "meeting": meeting,
        "department": department,
        "person_name": person_name,
        "position": position,
        "attended": attended,
        "remarks": remarks,
    }
    if record_id is not None and MeetingParticipant.all_objects.filter(pk=record_id).exists():
        return record_create(
            model=MeetingParticipant, fields=fields, by=by, device_id=device_id, record_id=record_id, digest=digest
        )
    current = _select_editable_meeting_for_update(meeting, PARTICIPANTS_EDITABLE_IN, "participants")
    _check_text(fields, "person_name", "position", "remarks")
    if department is None and not person_name.strip():
        raise ValidationFailed(
            "A participant is a department or a person.",
            code="participant_required",
            errors={"department": ["Give a department or a person_name."]},
        )

    def after_create(participant: MeetingParticipant) -> None:
        _assign_to_case(current.case, department)
        if current.status == MeetingStatus.SCHEDULED:
            meeting_notice_send(meeting=current, participant=participant)
        _mirror(record=participant, meeting=current, action="create", by=by, device_id=device_id)

    return record_create(
        model=MeetingParticipant,
        fields=fields,
        by=by,
        device_id=device_id,
        record_id=record_id,
        digest=digest,
        after_create=after_create,
    )


@transaction.atomic
def meeting_participant_update(
    *,
    instance: MeetingParticipant,
    changes: dict[str, Any],
    by: User | None,
    device_id: str = "",
    expected_version: int | None = None,
) -> MeetingParticipant:
    """Record attendance (and name, position, remarks)."""
    record_check_can_write(user=by, case=instance.case)
    _refuse_fields(changes, PARTICIPANT_EDITABLE_FIELDS)
    meeting = _select_editable_meeting_for_update(instance.meeting, PARTICIPANTS_EDITABLE_IN, "participants")
    _check_text(changes, "person_name", "position", "remarks")
    before = instance.version
    updated = record_update(
        instance=instance, changes=changes, by=by, device_id=device_id, expected_version=expected_version
    )
    if updated.version != before:
        _mirror(record=updated, meeting=meeting, action="update", by=by, device_id=device_id)
    return updated


@transaction.atomic
def meeting_participant_delete(
    *, instance: MeetingParticipant, by: User | None, device_id: str = "", expected_version: int | None = None
) -> MeetingParticipant:
    record_check_can_write(user=by, case=instance.case)
    if instance.deleted_at is not None:
        return instance
    meeting = _select_editable_meeting_for_update(instance.meeting, PARTICIPANTS_EDITABLE_IN, "participants")
    deleted = record_delete(instance=instance, by=by, device_id=device_id, expected_version=expected_version)
    _mirror(record=deleted, meeting=meeting, action="delete", by=by, device_id=device_id)
    return deleted


# --- decisions --------------------------------------------------------------------------


@transaction.atomic
def meeting_decision_create(
    *,
    by: User | None,
    meeting: Meeting,
    text: str,
    responsible_department: Organization | None = None,
    due_date: dt.date | None = None,
    finding: Finding | None = None,
    resolves_finding: bool = False,
    device_id: str = "",
    record_id: uuid.UUID | None = None,
    digest: str = "",
) -> tuple[MeetingDecision, bool]:
    """Record a decision of a held meeting. With `resolves_finding` it resolves `finding` (one the
    meeting took up) through `finding_resolve`, with the decision as the resolution."""
    record_check_can_write(user=by, case=meeting.case)
    fields = {
        "case_id": finding.case_id if finding is not None else meeting.case_id,
        "meeting": meeting,
        "text": text,
        "responsible_department": responsible_department,
        "due_date": due_date,
        "finding": finding,
        "resolves_finding": resolves_finding,
    }
    if record_id is not None and MeetingDecision.all_objects.filter(pk=record_id).exists():
        return record_create(
            model=MeetingDecision, fields=fields, by=by, device_id=device_id, record_id=record_id, digest=digest
        )
    current = _select_editable_meeting_for_update(meeting, DECISIONS_EDITABLE_IN, "decisions")
    if not isinstance(text, str) or not text.strip():
        raise ValidationFailed("A decision needs its text.", errors={"text": ["Required."]})
    if resolves_finding and finding is None:
        raise ValidationFailed(
            "Name the finding the decision resolves.", code="finding_required", errors={"finding": ["Required."]}
        )
    if finding is not None and finding.pk not in current.findings:
        raise ValidationFailed(
            "The meeting did not take this finding up; add it to the meeting's findings first.",
            code="finding_not_taken_up",
            errors={"finding": ["Not among the meeting's findings."]},
        )

    def after_create(decision: MeetingDecision) -> None:
        if resolves_finding:
            reference = current.number or current.title
            finding_resolve(
                finding=finding, by=by, device_id=device_id, resolution=f"{reference}议定：{text.strip()}"[:2000]
            )
        _assign_to_case(decision.case, responsible_department)
        _mirror(record=decision, meeting=current, action="create", by=by, device_id=device_id)

    return record_create(
        model=MeetingDecision,
        fields=fields,
        by=by,
        device_id=device_id,
        record_id=record_id,
        digest=digest,
        after_create=after_create,
    )


@transaction.atomic
def meeting_decision_update(
    *,
    instance: MeetingDecision,
    changes: dict[str, Any],
    by: User | None,
    device_id: str = "",
    expected_version: int | None = None,
) -> MeetingDecision:
    """Correct a decision's text, department or due date; what it resolved stays (audited)."""
    record_check_can_write(user=by, case=instance.meeting.case)
    _refuse_fields(changes, DECISION_EDITABLE_FIELDS)
    meeting = _select_editable_meeting_for_update(instance.meeting, DECISIONS_EDITABLE_IN, "decisions")
    if "text" in changes and (not isinstance(changes["text"], str) or not changes["text"].strip()):
        raise ValidationFailed("A decision needs its text.", errors={"text": ["Required."]})
    before = instance.version
    updated = record_update(
        instance=instance, changes=changes, by=by, device_id=device_id, expected_version=expected_version
    )
    if updated.version != before:
        if "responsible_department" in changes:
            _assign_to_case(updated.case, updated.responsible_department)
        _mirror(record=updated, meeting=meeting, action="update", by=by, device_id=device_id)
    return updated


@transaction.atomic
def meeting_decision_delete(
    *, instance: MeetingDecision, by: User | None, device_id: str = "", expected_version: int | None = None
) -> MeetingDecision:
    """Withdraw a decision recorded by mistake. One that resolved a finding still resolved stays:
    reopen the finding (`unresolve`) first (409 `decision_resolved_finding`)."""
    record_check_can_write(user=by, case=instance.meeting.case)
    if instance.deleted_at is not None:
        return instance
    meeting = _select_editable_meeting_for_update(instance.meeting, DECISIONS_EDITABLE_IN, "decisions")
    if (
        instance.resolves_finding
        and instance.finding_id
        and Finding.objects.filter(pk=instance.finding_id, status=FindingStatus.RESOLVED).exists()
    ):
        raise Conflict(
            "The decision resolved its finding; reopen the finding before withdrawing the decision.",
            code="decision_resolved_finding",
        )
    deleted = record_delete(instance=instance, by=by, device_id=device_id, expected_version=expected_version)
    _mirror(record=deleted, meeting=meeting, action="delete", by=by, device_id=device_id)
    return deleted
