"""Writes of joint site surveys, their participants and findings.

REST, sync push and the admin call these same functions. Every write checks who may write
(`record_check_can_write`: administrators, approval-department officials, survey crews and
vehicle teams of the case; builders and utility companies read only).

Survey lifecycle (one transition table, `SURVEY_TRANSITIONS`)::

    scheduled → in_progress → submitted → signed → closed
    scheduled, in_progress → cancelled

`signed` is reached only through `survey_mark_signed` (the signatures flow), which locks the
survey and its participants; `survey_reopen` unlocks them and puts the survey back to
`submitted`. Participants can be changed while the survey is scheduled or in progress.

Survey notice (踏勘通知): a department invited to a scheduled survey is told at once
(SURVEY_SCHEDULED, in-app and by e-mail); a new `scheduled_at` tells every participant again and
asks them anew. Before the survey starts the department confirms or declines
(`survey_participant_confirm`, which a PATCH or a pushed upsert of `confirmation` reaches too).
"""

import datetime as dt
import uuid
from typing import Any

from django.contrib.gis.geos import Point
from django.db import IntegrityError, transaction
from django.utils import timezone

from backend.accounts.models import Organization, User
from backend.cases.models import ApprovalCase
from backend.cases.services import case_organizations_add
from backend.common.errors import (
    Conflict,
    IllegalTransition,
    NotFound,
    PermissionDenied,
    RecordLocked,
    ValidationFailed,
)
from backend.notifications.models import NotificationKind
from backend.notifications.services import notifications_send
from backend.records.services import (
    record_can_write_case,
    record_check_can_write,
    record_check_case_site,
    record_create,
    record_delete,
    record_fast_create,
    record_fresh,
    record_reopen,
    record_select_for_update,
    record_sign_off,
    record_transition,
    record_update,
    write_memo,
)
from backend.sites.models import Site
from backend.surveys.models import (
    Finding,
    FindingStatus,
    ParticipantConfirmation,
    Survey,
    SurveyConclusion,
    SurveyParticipant,
    SurveyStatus,
)
from backend.surveys.selectors import survey_missing_participants, survey_participant_recipients

SURVEY_TRANSITIONS: dict[str, set[str]] = {
    SurveyStatus.SCHEDULED: {SurveyStatus.IN_PROGRESS, SurveyStatus.CANCELLED},
    SurveyStatus.IN_PROGRESS: {SurveyStatus.SUBMITTED, SurveyStatus.CANCELLED},
    SurveyStatus.SUBMITTED: {SurveyStatus.SIGNED},
    SurveyStatus.SIGNED: {SurveyStatus.CLOSED},
    SurveyStatus.CLOSED: set(),
    SurveyStatus.CANCELLED: set(),
}

# While a survey is in one of these, its participants may be added, changed and removed.
PARTICIPANTS_EDITABLE_IN = frozenset({SurveyStatus.SCHEDULED, SurveyStatus.IN_PROGRESS})

SURVEY_EDITABLE_FIELDS = frozenset(
    {"site", "scheduled_at", "started_at", "ended_at", "summary", "conclusion", "conditions", "minutes", "location"}
)
PARTICIPANT_EDITABLE_FIELDS = frozenset(
    {"person_name", "must_attend", "attended", "arrived_at", "opinion", "opinion_at", "is_waived", "waived_reason"}
)
# The department's answer to the notice: written through `survey_participant_confirm` only.
PARTICIPANT_CONFIRMATION_FIELDS = frozenset({"confirmation", "decline_reason"})
FINDING_EDITABLE_FIELDS = frozenset(
    {"survey", "description", "location", "responsible_department", "due_date", "meeting_ref"}
)
# Follow-up fields of a finding that stay editable when its survey is signed: the problem list is
# part of what was signed, the follow-up (deadline, coordination meeting, status) is not.
FINDING_FOLLOW_UP_FIELDS = frozenset({"due_date", "meeting_ref", "meeting"})

FINDING_TRANSITIONS: dict[str, set[str]] = {
    FindingStatus.OPEN: {FindingStatus.RESOLVED},
    # A fix that did not hold: back to open, audited like any transition.
    FindingStatus.RESOLVED: {FindingStatus.OPEN},
}


# --- shared checks ----------------------------------------------------------------------


def _refuse_fields(changes: dict[str, Any], editable: frozenset[str]) -> None:
    refused = sorted(set(changes) - editable)
    if refused:
        raise ValidationFailed(
            f"These fields cannot be written here: {', '.join(refused)}.",
            code="read_only_field",
            errors={name: ["Read-only."] for name in refused},
        )


def _check_choice(name: str, value: str, choices: type, *, allow_blank: bool = True) -> None:
    if value == "" and allow_blank:
        return
    if value not in choices.values:
        raise ValidationFailed(
            f"{value!r} is not a valid {name}.", errors={name: [f"Choose one of: {', '.join(choices.values)}."]}
        )


def _check_point(name: str, value: Any) -> None:
    if value is not None and not isinstance(value, Point):
        raise ValidationFailed(
            f"{name} must be a Point.", code="invalid_geometry", errors={name: ["Expected a Point."]}
        )


def _exists(model: type, record_id: uuid.UUID | None) -> bool:
    return record_id is not None and model.all_objects.filter(pk=record_id).exists()


def _assign_to_case(case: ApprovalCase, organization: Organization) -> None:
    """The organisation a record is addressed to must see the case (cases_visible_to).

    In a sync push chunk an assignment made (or found) once is not looked up again: the memo
    forgets it if the operation that made it rolls back.
    """
    memo = write_memo()
    key = ("case_assigned", str(case.pk), str(getattr(organization, "pk", organization)))
    if memo is not None and memo.get(key):
        return
    case_organizations_add(case=case, organizations=[organization])
    if memo is not None:
        memo.remember(key)


# --- surveys ----------------------------------------------------------------------------


def _validate_survey_fields(fields: dict[str, Any], *, case: ApprovalCase) -> None:
    if "site" in fields:
        record_check_case_site(case=case, site=fields["site"])
    if "conclusion" in fields:
        _check_choice("conclusion", fields["conclusion"], SurveyConclusion)
    if "location" in fields:
        _check_point("location", fields["location"])
    started_at, ended_at = fields.get("started_at"), fields.get("ended_at")
    if started_at is not None and ended_at is not None and ended_at < started_at:
        raise ValidationFailed("The survey cannot end before it started.", errors={"ended_at": ["Before started_at."]})


def survey_create(
    *,
    by: User | None,
    case: ApprovalCase,
    scheduled_at: dt.datetime,
    site: Site | None = None,
    started_at: dt.datetime | None = None,
    ended_at: dt.datetime | None = None,
    summary: str = "",
    conclusion: str = "",
    conditions: str = "",
    minutes: str = "",
    location: Point | None = None,
    device_id: str = "",
    record_id: uuid.UUID | None = None,
    digest: str = "",
) -> tuple[Survey, bool]:
    """Schedule a survey (status `scheduled`). Returns (survey, created) like `record_create`."""
    record_check_can_write(user=by, case=case)
    fields = {
        "case": case,
        "site": site,
        "scheduled_at": scheduled_at,
        "started_at": started_at,
        "ended_at": ended_at,
        "summary": summary,
        "conclusion": conclusion,
        "conditions": conditions,
        "minutes": minutes,
        "location": location,
    }
    _validate_survey_fields(fields, case=case)
    return record_create(model=Survey, fields=fields, by=by, device_id=device_id, record_id=record_id, digest=digest)


@transaction.atomic
def survey_update(
    *,
    instance: Survey,
    changes: dict[str, Any],
    by: User | None,
    device_id: str = "",
    expected_version: int | None = None,
) -> Survey:
    """Change a survey's content. Status moves only through the transition services."""
    record_check_can_write(user=by, case=instance.case)
    _refuse_fields(changes, SURVEY_EDITABLE_FIELDS)
    current = record_select_for_update(instance)
    if current.is_locked:
        raise RecordLocked("The survey is signed off and locked; reopen it to change it.")
    if current.status == SurveyStatus.CANCELLED:
        raise Conflict("A cancelled survey cannot be changed.", code="survey_not_editable")
    merged = {
        "started_at": current.started_at,
        "ended_at": current.ended_at,
        **changes,
    }
    _validate_survey_fields(merged, case=current.case)
    if current.status == SurveyStatus.SUBMITTED and changes.get("conclusion", current.conclusion) == "":
        raise ValidationFailed(
            "A submitted survey keeps its conclusion.", code="conclusion_required", errors={"conclusion": ["Required."]}
        )
    rescheduled = (
        current.status == SurveyStatus.SCHEDULED
        and "scheduled_at" in changes
        and changes["scheduled_at"] != current.scheduled_at
    )
    updated = record_update(
        instance=current, changes=changes, by=by, device_id=device_id, expected_version=expected_version
    )
    if rescheduled:
        _renotify_participants(survey=updated, by=by, device_id=device_id)
    return updated


@transaction.atomic
def survey_delete(
    *, instance: Survey, by: User | None, device_id: str = "", expected_version: int | None = None
) -> Survey:
    """Delete a survey scheduled by mistake (tombstone, with its participants); later ones are cancelled."""
    record_check_can_write(user=by, case=instance.case)
    current = record_select_for_update(instance)
    if current.deleted_at is not None:
        return current
    if current.is_locked:
        raise RecordLocked("The survey is signed off and locked; reopen it to delete it.")
    if current.status not in (SurveyStatus.SCHEDULED, SurveyStatus.CANCELLED):
        raise Conflict(
            f"A survey that is {current.status} cannot be deleted; cancel it instead.", code="survey_not_deletable"
        )
    deleted = record_delete(instance=current, by=by, device_id=device_id, expected_version=expected_version)
    for participant in SurveyParticipant.objects.filter(survey=current):
        record_delete(instance=participant, by=by, device_id=device_id)
    return deleted


def _survey_transition(
    *,
    survey: Survey,
    to: str,
    by: User | None,
    device_id: str,
    expected_version: int | None,
    extra_changes: dict[str, Any] | None = None,
    allow_locked: bool = False,
) -> Survey:
    return record_transition(
        instance=survey,
        field_name="status",
        to=to,
        allowed=SURVEY_TRANSITIONS,
        by=by,
        device_id=device_id,
        expected_version=expected_version,
        extra_changes=extra_changes,
        allow_locked=allow_locked,
    )


def _check_transition(survey: Survey, to: str) -> None:
    if to not in SURVEY_TRANSITIONS.get(survey.status, set()):
        raise IllegalTransition(
            f"Survey cannot go from {survey.status} to {to}.", extra={"from": survey.status, "to": to}
        )


@transaction.atomic
def survey_start(
    *,
    survey: Survey,
    by: User | None,
    started_at: dt.datetime | None = None,
    device_id: str = "",
    expected_version: int | None = None,
) -> Survey:
    """On site: scheduled → in_progress. `started_at` defaults to the time recorded, else now."""
    record_check_can_write(user=by, case=survey.case)
    current = record_select_for_update(survey)
    extra = {"started_at": started_at or current.started_at or timezone.now()}
    return _survey_transition(
        survey=current,
        to=SurveyStatus.IN_PROGRESS,
        by=by,
        device_id=device_id,
        expected_version=expected_version,
        extra_changes=extra,
    )


@transaction.atomic
def survey_submit(
    *,
    survey: Survey,
    by: User | None,
    conclusion: str | None = None,
    conditions: str | None = None,
    minutes: str | None = None,
    ended_at: dt.datetime | None = None,
    device_id: str = "",
    expected_version: int | None = None,
) -> Survey:
    """in_progress → submitted, with the conclusion (and minutes) in the same version.

    Refused unless every must-attend participant attended and gave an opinion, or was waived
    with a reason: 409 `survey_incomplete` listing them under `missing`. A conclusion is
    required (400 `conclusion_required`); "agree with conditions" needs the conditions.
    """
    record_check_can_write(user=by, case=survey.case)
    # The survey row lock also serialises participant writes (they lock their survey first),
    # so the completeness seen here is the one committed with the transition.
    current = record_select_for_update(survey)
    if current.is_locked:
        raise RecordLocked("The survey is signed off and locked.")
    _check_transition(current, SurveyStatus.SUBMITTED)
    final_conclusion = conclusion if conclusion is not None else current.conclusion
    final_conditions = conditions if conditions is not None else current.conditions
    _check_choice("conclusion", final_conclusion, SurveyConclusion)
    if not final_conclusion:
        raise ValidationFailed(
            "A conclusion is required to submit the survey.",
            code="conclusion_required",
            errors={"conclusion": ["Required to submit."]},
        )
    if final_conclusion == SurveyConclusion.AGREE_WITH_CONDITIONS and not final_conditions.strip():
        raise ValidationFailed(
            "Agreeing with conditions needs the conditions.",
            code="conditions_required",
            errors={"conditions": ["Required for agree_with_conditions."]},
        )
    if not SurveyParticipant.objects.filter(survey=current).exists():
        raise Conflict(
            "The survey has no participants.", code="survey_incomplete", extra={"missing": [], "departments": []}
        )
    missing = survey_missing_participants(survey=current)
    if missing:
        names = "、".join(entry["department_name"] for entry in missing)
        raise Conflict(
            f"Not every must-attend department attended and gave an opinion or was waived with a reason: {names}.",
            code="survey_incomplete",
            extra={"missing": missing, "departments": [entry["department"] for entry in missing]},
        )
    extra: dict[str, Any] = {
        "conclusion": final_conclusion,
        "conditions": final_conditions,
        "ended_at": ended_at or current.ended_at or timezone.now(),
    }
    if minutes is not None:
        extra["minutes"] = minutes
    return _survey_transition(
        survey=current,
        to=SurveyStatus.SUBMITTED,
        by=by,
        device_id=device_id,
        expected_version=expected_version,
        extra_changes=extra,
    )


@transaction.atomic
def survey_cancel(
    *,
    survey: Survey,
    by: User | None,
    reason: str,
    device_id: str = "",
    expected_version: int | None = None,
) -> Survey:
    """scheduled or in_progress → cancelled; a reason is required."""
    record_check_can_write(user=by, case=survey.case)
    if not reason or not reason.strip():
        raise ValidationFailed(
            "A reason is required to cancel.", code="reason_required", errors={"reason": ["Required."]}
        )
    return _survey_transition(
        survey=survey,
        to=SurveyStatus.CANCELLED,
        by=by,
        device_id=device_id,
        expected_version=expected_version,
        extra_changes={"cancel_reason": reason.strip()},
    )


@transaction.atomic
def survey_close(
    *, survey: Survey, by: User | None, device_id: str = "", expected_version: int | None = None
) -> Survey:
    """signed → closed (archived). The survey stays locked."""
    record_check_can_write(user=by, case=survey.case)
    return _survey_transition(
        survey=survey,
        to=SurveyStatus.CLOSED,
        by=by,
        device_id=device_id,
        expected_version=expected_version,
        allow_locked=True,
    )


@transaction.atomic
def survey_mark_signed(*, survey: Survey, by: User | None, device_id: str = "") -> Survey:
    """submitted → signed, locking the survey and its participants (called by the signatures flow).

    Who may sign is the signatures flow's rule, not checked here.
    """
    current = record_select_for_update(survey)
    if current.deleted_at is not None:
        raise ValidationFailed("The survey was deleted.", code="record_deleted", status=410)
    if current.is_locked:
        raise RecordLocked("The survey is already signed and locked.")
    _check_transition(current, SurveyStatus.SIGNED)
    signed = record_sign_off(
        instance=current, by=by, device_id=device_id, reason="signed", changes={"status": SurveyStatus.SIGNED}
    )
    for participant in SurveyParticipant.objects.filter(survey=current, is_locked=False):
        record_sign_off(instance=participant, by=by, device_id=device_id, reason="survey signed")
    return signed


def survey_reopen_changes(survey: Survey) -> dict[str, Any]:
    """What a reopen changes besides unlocking: a signed or closed survey goes back to `submitted`."""
    if survey.status in (SurveyStatus.SIGNED, SurveyStatus.CLOSED):
        return {"status": SurveyStatus.SUBMITTED}
    return {}


@transaction.atomic
def survey_reopen(
    *,
    instance: Survey,
    by: User | None,
    reason: str,
    device_id: str = "",
    on_reopen: Any = None,
) -> Survey:
    """Unlock a signed survey and its participants (status back to submitted), audited with the reason.

    Its signatures are voided by the record kernel's reopen listeners (the signatures app).
    """
    record_check_can_write(user=by, case=instance.case)
    current = record_select_for_update(instance)
    reopened = record_reopen(
        instance=current,
        by=by,
        reason=reason,
        device_id=device_id,
        changes=survey_reopen_changes(current),
        on_reopen=on_reopen,
    )
    for participant in SurveyParticipant.objects.filter(survey=current, is_locked=True):
        record_reopen(instance=participant, by=by, reason=reason, device_id=device_id)
    return reopened


# --- participants -----------------------------------------------------------------------


def _select_survey_for_participant_change(survey: Survey) -> Survey:
    current = record_select_for_update(survey)
    if current.deleted_at is not None:
        raise ValidationFailed("The survey was deleted.", code="record_deleted", status=410)
    if current.is_locked:
        raise RecordLocked("The survey is signed off and locked; reopen it to change its participants.")
    if current.status not in PARTICIPANTS_EDITABLE_IN:
        raise Conflict(f"Participants of a {current.status} survey cannot be changed.", code="survey_not_editable")
    return current


def _validate_participant_fields(fields: dict[str, Any]) -> None:
    for name in ("person_name", "opinion", "waived_reason"):
        if name in fields and not isinstance(fields[name], str):
            raise ValidationFailed(f"{name} must be text.", errors={name: ["Expected text."]})


@transaction.atomic
def survey_participant_create(
    *,
    by: User | None,
    survey: Survey,
    department: Organization,
    person_name: str = "",
    must_attend: bool = True,
    attended: bool = False,
    arrived_at: dt.datetime | None = None,
    opinion: str = "",
    opinion_at: dt.datetime | None = None,
    is_waived: bool = False,
    waived_reason: str = "",
    device_id: str = "",
    record_id: uuid.UUID | None = None,
    digest: str = "",
) -> tuple[SurveyParticipant, bool]:
    """Invite a department to a survey; the department is assigned to the case so it sees it."""
    record_check_can_write(user=by, case=survey.case)
    fields = {
        "case_id": survey.case_id,
        "survey": survey,
        "department": department,
        "person_name": person_name,
        "must_attend": must_attend,
        "attended": attended,
        "arrived_at": arrived_at,
        "opinion": opinion,
        "opinion_at": opinion_at or (timezone.now() if opinion.strip() else None),
        "is_waived": is_waived,
        "waived_reason": waived_reason,
    }
    if _exists(SurveyParticipant, record_id):
        # A retry of a create that already happened replays (or conflicts) whatever the survey's state.
        return record_create(
            model=SurveyParticipant, fields=fields, by=by, device_id=device_id, record_id=record_id, digest=digest
        )
    current_survey = _select_survey_for_participant_change(survey)
    _validate_participant_fields(fields)
    is_noticed = current_survey.status == SurveyStatus.SCHEDULED
    if is_noticed:
        fields["notified_at"] = timezone.now()
    if SurveyParticipant.objects.filter(survey=current_survey, department=department).exists():
        raise Conflict(
            f"{department.name} already takes part in this survey.",
            code="duplicate_participant",
            errors={"department": ["Already a participant of this survey."]},
        )
    try:
        return record_create(
            model=SurveyParticipant,
            fields=fields,
            by=by,
            device_id=device_id,
            record_id=record_id,
            digest=digest,
            after_create=lambda participant: _participant_added(current_survey, participant, is_noticed=is_noticed),
        )
    except IntegrityError as error:
        raise Conflict(f"{department.name} already takes part in this survey.", code="duplicate_participant") from error


def _participant_added(survey: Survey, participant: SurveyParticipant, *, is_noticed: bool) -> None:
    _assign_to_case(survey.case, participant.department)
    if is_noticed:
        survey_notice_send(survey=survey, participant=participant)


@transaction.atomic
def survey_participant_update(
    *,
    instance: SurveyParticipant,
    changes: dict[str, Any],
    by: User | None,
    device_id: str = "",
    expected_version: int | None = None,
) -> SurveyParticipant:
    """Record attendance, opinion or waiver. A new opinion is stamped `opinion_at` unless one is sent.

    `confirmation` / `decline_reason` (a PATCH or a pushed upsert answering the notice) go
    through `survey_participant_confirm` first, with its rule on who may answer; the rest
    then needs a writer of the case, in the same transaction.
    """
    answer = {name: changes[name] for name in PARTICIPANT_CONFIRMATION_FIELDS & set(changes)}
    if answer:
        current = record_select_for_update(instance)
        changes = {name: value for name, value in changes.items() if name not in answer}
        confirmation = answer.get("confirmation", current.confirmation)
        reason = answer.get("decline_reason", current.decline_reason)
        if confirmation != current.confirmation or reason != current.decline_reason:
            if confirmation not in (ParticipantConfirmation.CONFIRMED, ParticipantConfirmation.DECLINED):
                raise ValidationFailed(
                    "Answer the notice with confirmed or declined.",
                    code="invalid_confirmation",
                    errors={"confirmation": ["Choose confirmed or declined."]},
                )
            instance = survey_participant_confirm(
                participant=current,
                by=by,
                attending=confirmation == ParticipantConfirmation.CONFIRMED,
                reason=reason,
                device_id=device_id,
                expected_version=expected_version,
            )
            expected_version = None  # checked by the answer, under the same row lock
        if not changes:
            return instance
    record_check_can_write(user=by, case=instance.case)
    _refuse_fields(changes, PARTICIPANT_EDITABLE_FIELDS)
    _select_survey_for_participant_change(instance.survey)
    _validate_participant_fields(changes)
    current = record_select_for_update(instance)
    changes = dict(changes)
    if (
        "opinion" in changes
        and "opinion_at" not in changes
        and changes["opinion"] != current.opinion
        and changes["opinion"].strip()
    ):
        changes["opinion_at"] = timezone.now()
    return record_update(
        instance=current, changes=changes, by=by, device_id=device_id, expected_version=expected_version
    )


def survey_notice_send(*, survey: Survey, participant: SurveyParticipant) -> list:
    """Tell a participating department of the survey (once per participant and survey time)."""
    site = f"，地点：{survey.site.name}" if survey.site_id else ""
    when = timezone.localtime(survey.scheduled_at)
    return notifications_send(
        recipients=survey_participant_recipients(participant=participant),
        kind=NotificationKind.SURVEY_SCHEDULED,
        subject=f"survey_participant:{participant.pk}:{survey.scheduled_at.isoformat()}",
        day=timezone.localdate(),
        title=f"踏勘通知：{survey.case.external_no} {when:%Y-%m-%d %H:%M}",
        body=(
            f"{participant.department.name}：定于{when:%Y年%m月%d日 %H:%M}对{survey.case.external_no}进行联合踏勘{site}。"
            f"{'须到场。' if participant.must_attend else ''}请在踏勘前确认是否参加。"
        ),
        data={
            "survey": str(survey.pk),
            "participant": str(participant.pk),
            "case": str(survey.case_id),
            "scheduled_at": when.isoformat(),
            "must_attend": participant.must_attend,
        },
        once=True,
    )


def _renotify_participants(*, survey: Survey, by: User | None, device_id: str) -> None:
    """A new time: every participant's earlier answer no longer holds; ask and tell them again."""
    now = timezone.now()
    for participant in SurveyParticipant.objects.filter(survey=survey).select_related("department"):
        renewed = record_update(
            instance=participant,
            changes={
                "confirmation": ParticipantConfirmation.PENDING,
                "confirmed_at": None,
                "decline_reason": "",
                "notified_at": now,
            },
            by=by,
            device_id=device_id,
            action="renotify",
        )
        survey_notice_send(survey=survey, participant=renewed)


def _check_can_answer(*, user: User | None, participant: SurveyParticipant) -> None:
    """The invited department answers for itself; the case's writers may record its answer
    (given by phone). Anyone else who sees the case may not."""
    if user is None:
        return
    from backend.cases.selectors import cases_visible_to

    if not cases_visible_to(user=user).filter(pk=participant.case_id).exists():
        raise NotFound("No such participant.")
    if getattr(user, "organization_id", None) == participant.department_id:
        return
    if not record_can_write_case(user=user, case=participant.case):
        raise PermissionDenied("Only the invited department, or the survey's organisers, answer its notice.")


@transaction.atomic
def survey_participant_confirm(
    *,
    participant: SurveyParticipant,
    by: User | None,
    attending: bool,
    reason: str = "",
    device_id: str = "",
    expected_version: int | None = None,
) -> SurveyParticipant:
    """The department confirms (`attending`) or declines the survey notice, before the survey.

    Refused once the survey has started or ended (409 `survey_not_scheduled`). A decline keeps
    its reason; a confirmation clears an earlier one. Audited as `confirm` / `decline`.
    """
    _check_can_answer(user=by, participant=participant)
    if not isinstance(attending, bool):
        raise ValidationFailed("attending is true or false.", errors={"attending": ["Expected true or false."]})
    if not isinstance(reason, str):
        raise ValidationFailed("reason must be text.", errors={"reason": ["Expected text."]})
    survey = record_select_for_update(participant.survey)
    if survey.deleted_at is not None:
        raise ValidationFailed("The survey was deleted.", code="record_deleted", status=410)
    if survey.status != SurveyStatus.SCHEDULED:
        raise Conflict(
            f"The notice is answered before the survey; this one is {survey.status}.",
            code="survey_not_scheduled",
            extra={"survey_status": survey.status},
        )
    confirmation = ParticipantConfirmation.CONFIRMED if attending else ParticipantConfirmation.DECLINED
    return record_update(
        instance=participant,
        changes={
            "confirmation": confirmation,
            "confirmed_at": timezone.now(),
            "decline_reason": "" if attending else reason.strip(),
        },
        by=by,
        device_id=device_id,
        expected_version=expected_version,
        action="confirm" if attending else "decline",
    )


@transaction.atomic
def survey_participant_delete(
    *, instance: SurveyParticipant, by: User | None, device_id: str = "", expected_version: int | None = None
) -> SurveyParticipant:
    record_check_can_write(user=by, case=instance.case)
    if instance.deleted_at is None:
        _select_survey_for_participant_change(instance.survey)
    return record_delete(instance=instance, by=by, device_id=device_id, expected_version=expected_version)


@transaction.atomic
def survey_participant_reopen(
    *,
    instance: SurveyParticipant,
    by: User | None,
    reason: str,
    device_id: str = "",
    on_reopen: Any = None,
) -> SurveyParticipant:
    """A participant of a signed survey is unlocked by reopening the survey, never on its own."""
    record_check_can_write(user=by, case=instance.case)
    if record_select_for_update(instance.survey).is_locked:
        raise RecordLocked("The participant belongs to a signed survey; reopen the survey.")
    return record_reopen(instance=instance, by=by, reason=reason, device_id=device_id, on_reopen=on_reopen)


# --- findings ---------------------------------------------------------------------------


def _check_finding_survey(*, case: ApprovalCase, survey: Survey | None) -> None:
    if survey is None:
        return
    # Read the survey's lock under a row lock: the caller's instance may predate its signing.
    # (A survey this sync push chunk created and nothing changed since is its own locked row.)
    survey = record_fresh(Survey, survey.pk) or record_select_for_update(survey)
    if survey.case_id != case.pk:
        raise ValidationFailed(
            "The survey belongs to another case.",
            code="case_mismatch",
            errors={"survey": ["The survey does not belong to the finding's case."]},
        )
    if survey.is_locked:
        raise RecordLocked("The survey is signed off and locked; reopen it to change its findings.")


def _validate_finding_fields(fields: dict[str, Any]) -> None:
    if "description" in fields and (not isinstance(fields["description"], str) or not fields["description"].strip()):
        raise ValidationFailed("A finding needs a description.", errors={"description": ["Required."]})
    if "location" in fields:
        _check_point("location", fields["location"])


def finding_create(
    *,
    by: User | None,
    case: ApprovalCase,
    description: str,
    responsible_department: Organization,
    survey: Survey | None = None,
    location: Point | None = None,
    due_date: dt.date | None = None,
    meeting_ref: str = "",
    device_id: str = "",
    record_id: uuid.UUID | None = None,
    digest: str = "",
) -> tuple[Finding, bool]:
    """Record a problem found; the responsible department is assigned to the case so it sees it."""
    # A sync push's known-new finding runs in the operation's savepoint (every failure here
    # propagates to it); otherwise in a savepoint of its own.
    fast = record_fast_create(Finding, record_id)
    with transaction.atomic(savepoint=not fast):
        record_check_can_write(user=by, case=case)
        fields = {
            "case": case,
            "survey": survey,
            "description": description,
            "location": location,
            "responsible_department": responsible_department,
            "due_date": due_date,
            "meeting_ref": meeting_ref,
        }
        if fast or not _exists(Finding, record_id):
            _validate_finding_fields(fields)
            _check_finding_survey(case=case, survey=survey)
        return record_create(
            model=Finding,
            fields=fields,
            by=by,
            device_id=device_id,
            record_id=record_id,
            digest=digest,
            after_create=lambda finding: _assign_to_case(case, responsible_department),
        )


def _check_finding_unlocked(finding: Finding, changed: set[str]) -> None:
    if finding.survey_id is None or not changed - FINDING_FOLLOW_UP_FIELDS:
        return
    if Survey.all_objects.select_for_update().filter(pk=finding.survey_id, is_locked=True).exists():
        raise RecordLocked(
            "The finding is part of a signed survey; only its due date and meeting can change until the survey is "
            "reopened."
        )


@transaction.atomic
def finding_update(
    *,
    instance: Finding,
    changes: dict[str, Any],
    by: User | None,
    device_id: str = "",
    expected_version: int | None = None,
) -> Finding:
    record_check_can_write(user=by, case=instance.case)
    _refuse_fields(changes, FINDING_EDITABLE_FIELDS)
    current = record_select_for_update(instance)
    really_changed = {name for name, value in changes.items() if getattr(current, name) != value}
    _check_finding_unlocked(current, really_changed)
    _validate_finding_fields(changes)
    if "survey" in really_changed:
        _check_finding_survey(case=current.case, survey=changes["survey"])
    updated = record_update(
        instance=current, changes=changes, by=by, device_id=device_id, expected_version=expected_version
    )
    if "responsible_department" in really_changed:
        _assign_to_case(updated.case, updated.responsible_department)
    return updated


@transaction.atomic
def finding_delete(
    *, instance: Finding, by: User | None, device_id: str = "", expected_version: int | None = None
) -> Finding:
    record_check_can_write(user=by, case=instance.case)
    if instance.deleted_at is None:
        _check_finding_unlocked(instance, {"deleted_at"})
    return record_delete(instance=instance, by=by, device_id=device_id, expected_version=expected_version)


def finding_escalate(*, finding: Finding, meeting: Any, by: User | None, device_id: str = "") -> Finding:
    """Name the coordination meeting that takes the finding up (or `None`: no longer).

    A follow-up field, like the due date: it changes also when the finding's survey is signed.
    The meetings services call this when a meeting takes a finding up or lets it go.
    """
    record_check_can_write(user=by, case=finding.case)
    return record_update(
        instance=finding,
        changes={"meeting": meeting},
        by=by,
        device_id=device_id,
        action="escalate" if meeting is not None else "update",
    )


def finding_resolve(
    *,
    finding: Finding,
    by: User | None,
    resolution: str = "",
    device_id: str = "",
    expected_version: int | None = None,
) -> Finding:
    """open → resolved, stamped now."""
    record_check_can_write(user=by, case=finding.case)
    return record_transition(
        instance=finding,
        field_name="status",
        to=FindingStatus.RESOLVED,
        allowed=FINDING_TRANSITIONS,
        by=by,
        device_id=device_id,
        expected_version=expected_version,
        extra_changes={"resolved_at": timezone.now(), "resolution": resolution or ""},
    )


def finding_unresolve(
    *,
    finding: Finding,
    by: User | None,
    device_id: str = "",
    expected_version: int | None = None,
) -> Finding:
    """resolved → open again (the fix did not hold); the resolution is cleared, the audit keeps it."""
    record_check_can_write(user=by, case=finding.case)
    return record_transition(
        instance=finding,
        field_name="status",
        to=FindingStatus.OPEN,
        allowed=FINDING_TRANSITIONS,
        by=by,
        device_id=device_id,
        expected_version=expected_version,
        extra_changes={"resolved_at": None, "resolution": ""},
    )
