"""Writes of the events app: the outbox, subscriptions, the relay and deliveries.

- `event_emit` writes an event in the caller's transaction (record changes reach it through
  `event_record_changed`, the listener of backend.records.services._audit).
- `events_relay` turns committed events, in commit order, into deliveries for the subscriptions
  whose organisation sees the case, in commit order, and queues their sending.
- `deliveries_drain` sends one subscription's pending deliveries of one case, oldest first,
  stopping at the first failure, so a later event of a case waits for an earlier one.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import zlib
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from backend.accounts.models import Organization, Role, User
from backend.cases.selectors import cases_visible_to_organization
from backend.common.errors import NotFound, PermissionDenied, ValidationFailed
from backend.events import outbound
from backend.events.catalogue import EVENT_TYPES, PING_EVENT_TYPE, RecordChange, event_types_for_change
from backend.events.models import (
    Delivery,
    DeliveryStatus,
    ItemLevelSeen,
    PauseReason,
    RelayCursor,
    Subscription,
)
from backend.events.selectors import event_envelope, events_after, webhook_may_manage
from backend.records.services import write_memo

# Record fields that are the kernel's bookkeeping, not the record as clients know it.
HIDDEN_FIELDS = frozenset({"field_versions", "client_digest"})

_INSERT_EVENT = """
INSERT INTO events_event (uuid, type, occurred_at, case_id, external_no, record_type, record_id, data)
SELECT %(uuid)s, %(type)s, %(occurred_at)s, id, external_no, %(record_type)s, %(record_id)s, %(data)s
FROM cases_approvalcase WHERE id = %(case)s
RETURNING id
"""


def event_emit(*, type: str, case_id: Any, data: dict[str, Any], record_type: str = "", record_id: Any = None) -> int:
    """Write one event in the current transaction; it commits or rolls back with the change."""
    import uuid

    if type not in EVENT_TYPES:
        raise ValueError(f"{type} is not a catalogued event type")
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("event_emit must run inside the transaction that makes the change")
    with connection.cursor() as cursor:
        cursor.execute(
            _INSERT_EVENT,
            {
                "uuid": uuid.uuid4(),
                "type": type,
                "occurred_at": timezone.now(),
                "case": case_id,
                "record_type": record_type,
                "record_id": record_id,
                "data": json.dumps(data, ensure_ascii=False, default=str),
            },
        )
        event_id = cursor.fetchone()[0]
    # Once per transaction, however many events it writes.
    if not any(entry[1] is relay_schedule for entry in connection.run_on_commit):
        transaction.on_commit(relay_schedule)
    return event_id


_INSERT_EVENTS = """
INSERT INTO events_event (uuid, type, occurred_at, case_id, external_no, record_type, record_id, data)
SELECT gen_random_uuid(), %(type)s, %(occurred_at)s, c.id, c.external_no, '', NULL, e.data
FROM ROWS FROM (jsonb_to_recordset(%(events)s::jsonb) AS ("case" uuid, data jsonb)) WITH ORDINALITY AS e("case", data, n)
JOIN cases_approvalcase c ON c.id = e."case"
ORDER BY e.n
"""


def events_emit_many(*, type: str, events: list[tuple[Any, dict[str, Any]]]) -> int:
    """`event_emit` of many events of one type, (case id, data) each, in order, in one statement."""
    if type not in EVENT_TYPES:
        raise ValueError(f"{type} is not a catalogued event type")
    if not events:
        return 0
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("events_emit_many must run inside the transaction that makes the change")
    document = json.dumps([{"case": str(case), "data": data} for case, data in events], ensure_ascii=False, default=str)
    with connection.cursor() as cursor:
        cursor.execute(_INSERT_EVENTS, {"type": type, "occurred_at": timezone.now(), "events": document})
        emitted = cursor.rowcount
    if not any(entry[1] is relay_schedule for entry in connection.run_on_commit):
        transaction.on_commit(relay_schedule)
    return emitted


_INSERT_RECORD_EVENTS = """
INSERT INTO events_event (uuid, type, occurred_at, case_id, external_no, record_type, record_id, data)
SELECT gen_random_uuid(), e.type, e.occurred_at, c.id, c.external_no, e.record_type, e.record_id, e.data
FROM ROWS FROM (
    jsonb_to_recordset(%(events)s::jsonb)
    AS (type text, occurred_at timestamptz, "case" uuid, record_type text, record_id uuid, data jsonb)
) WITH ORDINALITY AS e(type, occurred_at, "case", record_type, record_id, data, n)
JOIN cases_approvalcase c ON c.id = e."case"
ORDER BY e.n
"""


def events_emit_records(*, events: list[dict[str, Any]]) -> int:
    """The events of many record changes (what `event_record_changed` collected in a sync push
    chunk: type, occurred_at, case, record_type, record_id, data each), in order, in one
    statement, in the current transaction: ids in the order the changes were made."""
    if not events:
        return 0
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("events_emit_records must run inside the transaction that makes the changes")
    document = json.dumps(events, ensure_ascii=False, default=str)
    with connection.cursor() as cursor:
        cursor.execute(_INSERT_RECORD_EVENTS, {"events": document})
        emitted = cursor.rowcount
    if not any(entry[1] is relay_schedule for entry in connection.run_on_commit):
        transaction.on_commit(relay_schedule)
    return emitted


def record_representation(instance: Any, after: dict[str, Any]) -> dict[str, Any]:
    """The record's fields by their API names (`case`, `site` …), from the audited snapshot."""
    data = {}
    for field in instance._meta.concrete_fields:
        if field.name in HIDDEN_FIELDS or field.attname not in after:
            continue
        data[field.name] = after[field.attname]
    return data


def event_record_changed(
    *,
    instance: Any,
    record_type: str,
    action: str,
    before: dict | None,
    after: dict,
    by: Any = None,
    device_id: str = "",
    reason: str = "",
    **_: Any,
) -> None:
    """The records kernel's listener: the catalogued events this change makes, in its transaction."""
    change = RecordChange(instance=instance, record_type=record_type, action=action, before=before, after=after)
    event_types = event_types_for_change(change)
    if not event_types:
        return
    base = {
        "record_type": record_type,
        "record_id": str(instance.pk),
        "action": action,
        "version": instance.version,
        "actor": getattr(by, "username", None) if getattr(by, "is_authenticated", False) else None,
        "record": record_representation(instance, after),
    }
    if action == "reopen":
        base["reason"] = reason
    memo = write_memo()
    for event_type in event_types:
        data = dict(base)
        if event_type.extras is not None:
            data.update(event_type.extras(instance))
        if memo is not None:
            # A sync push chunk: written with the chunk's other events in one INSERT at its end.
            if event_type.name not in EVENT_TYPES:
                raise ValueError(f"{event_type.name} is not a catalogued event type")
            memo.events.append(
                {
                    "type": event_type.name,
                    "occurred_at": timezone.now().isoformat(),
                    "case": str(instance.case_id),
                    "record_type": record_type,
                    "record_id": str(instance.pk),
                    "data": data,
                }
            )
            continue
        event_emit(
            type=event_type.name, case_id=instance.case_id, data=data, record_type=record_type, record_id=instance.pk
        )


def _item_data(item: Any) -> dict[str, Any]:
    return {
        "id": str(item.pk),
        "external_id": item.external_id,
        "name": item.name,
        "department": str(item.department_id),
        "status": item.status,
        "accepted_at": item.accepted_at.isoformat() if item.accepted_at else None,
        "completed_at": item.completed_at.isoformat() if item.completed_at else None,
        "due_date": item.due_date.isoformat() if item.due_date else None,
    }


def event_item_status_changed(*, item: Any, from_status: int | None, by: Any = None) -> None:
    """case.item.status_changed, from the one place each path changes an item's status."""
    if from_status == item.status:
        return
    event_emit(
        type="case.item.status_changed",
        case_id=item.case_id,
        data={
            "item": _item_data(item),
            "from_status": from_status,
            "to_status": item.status,
            "actor": getattr(by, "username", None) if getattr(by, "is_authenticated", False) else None,
        },
    )


def deadline_levels_observe(*, items: list[Any], deadlines: dict[Any, Any], as_of: dt.date) -> int:
    """deadline.level_changed for each item whose warning level moved since the last daily run.

    An item never seen before counts as having been at `ok`. Returns how many events it wrote
    (one statement for all of them: the first run after a load may move every open item).
    """
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT item_id, level FROM events_itemlevelseen WHERE item_id = ANY(%s::uuid[])", [[i.pk for i in items]]
        )
        seen = dict(cursor.fetchall())
    changed = []
    events = []
    for item in items:
        deadline = deadlines.get(item.pk)
        level = getattr(deadline, "warning_level", None)
        if level is None:
            continue
        previous = seen.get(item.pk)
        if previous == level:
            continue
        changed.append(ItemLevelSeen(item_id=item.pk, level=level, seen_on=as_of))
        if (previous or "ok") != level:
            events.append(
                (
                    item.case_id,
                    {
                        "item": _item_data(item),
                        "from_level": previous or "ok",
                        "to_level": level,
                        "due_date": deadline.due_date.isoformat() if deadline.due_date else None,
                        "remaining_working_days": deadline.remaining_working_days,
                        "as_of": as_of.isoformat(),
                    },
                )
            )
    emitted = events_emit_many(type="deadline.level_changed", events=events)
    ItemLevelSeen.objects.bulk_create(
        changed, update_conflicts=True, unique_fields=["item"], update_fields=["level", "seen_on"]
    )
    return emitted


# --- subscriptions ---------------------------------------------------------------------------


def _clean_events(events: Any) -> list[str]:
    if events is None:
        return []
    if not isinstance(events, list) or not all(isinstance(e, str) for e in events):
        raise ValidationFailed("events is a list of event types.", errors={"events": ["A list of strings."]})
    unknown = sorted(set(events) - set(EVENT_TYPES))
    if unknown:
        raise ValidationFailed(
            f"Unknown event types: {', '.join(unknown)}.",
            code="unknown_event_type",
            errors={"events": [f"Not in the catalogue: {', '.join(unknown)}."]},
        )
    return sorted(set(events))


def _clean_url(url: Any) -> str:
    if not isinstance(url, str) or not url or len(url) > 2000:
        raise ValidationFailed("url is an http(s) URL of at most 2000 characters.", errors={"url": ["Invalid."]})
    outbound.target_of(url)
    return url


def subscription_create(
    *,
    by: User,
    url: str,
    events: list[str] | None = None,
    is_active: bool = True,
    description: str = "",
    organization: Organization | None = None,
) -> Subscription:
    """A new subscription of `organization` (default: the caller's); its secret is in the result."""
    organization = organization or (by.organization if by.organization_id else None)
    if organization is None:
        raise ValidationFailed(
            "Name the organisation that owns the subscription.", errors={"organization": ["Required."]}
        )
    if not webhook_may_manage(user=by, organization_id=organization.pk):
        raise PermissionDenied("Only administrators and an external system's own users manage its webhooks.")
    now = timezone.now()
    return Subscription.objects.create(
        organization=organization,
        url=_clean_url(url),
        events=_clean_events(events),
        is_active=bool(is_active),
        description=(description or "")[:200],
        secret=outbound.secret_generate(),
        created_by=by if by.is_authenticated else None,
        created_at=now,
        updated_at=now,
    )


def _managed(*, subscription_id: Any, by: User, lock: bool = False) -> Subscription:
    from backend.events.selectors import subscriptions_visible_to

    qs = subscriptions_visible_to(user=by)
    if lock:
        qs = qs.select_for_update(of=("self",))
    subscription = qs.filter(pk=subscription_id).first()
    if subscription is None:
        raise NotFound("No such webhook.")
    if not webhook_may_manage(user=by, organization_id=subscription.organization_id):
        raise PermissionDenied("Only administrators and an external system's own users manage its webhooks.")
    return subscription


@transaction.atomic
def subscription_update(*, subscription_id: Any, by: User, changes: dict[str, Any]) -> Subscription:
    """Change url, events, is_active or description. Activating again lifts a pause."""
    subscription = _managed(subscription_id=subscription_id, by=by, lock=True)
    if "url" in changes:
        subscription.url = _clean_url(changes["url"])
    if "events" in changes:
        subscription.events = _clean_events(changes["events"])
    if "description" in changes:
        subscription.description = (changes["description"] or "")[:200]
    resumed = False
    if "is_active" in changes:
        subscription.is_active = bool(changes["is_active"])
        if subscription.is_active:
            resumed = subscription.paused_at is not None
            subscription.paused_at = None
            subscription.pause_reason = ""
            subscription.failing_since = None
    subscription.updated_at = timezone.now()
    subscription.save()
    if subscription.is_active or resumed:
        transaction.on_commit(lambda: drains_schedule_for(subscription_id=subscription.pk))
    return subscription


@transaction.atomic
def subscription_delete(*, subscription_id: Any, by: User) -> None:
    _managed(subscription_id=subscription_id, by=by, lock=True).delete()


@transaction.atomic
def subscription_rotate_secret(*, subscription_id: Any, by: User, overlap_seconds: int | None = None) -> Subscription:
    """A new secret; the old one keeps signing (a second signature) for the overlap."""
    overlap = settings.WEBHOOK_SECRET_OVERLAP_SECONDS if overlap_seconds is None else overlap_seconds
    if not isinstance(overlap, int) or isinstance(overlap, bool) or not 0 <= overlap <= 7 * 86400:
        raise ValidationFailed(
            "overlap_seconds is an integer from 0 to 604800.", errors={"overlap_seconds": ["0 to 604800."]}
        )
    subscription = _managed(subscription_id=subscription_id, by=by, lock=True)
    now = timezone.now()
    subscription.previous_secret = subscription.secret if overlap else ""
    subscription.previous_secret_expires_at = now + dt.timedelta(seconds=overlap) if overlap else None
    subscription.secret = outbound.secret_generate()
    subscription.updated_at = now
    subscription.save()
    return subscription


def subscription_secrets(subscription: Subscription, *, now: dt.datetime | None = None) -> list[str]:
    now = now or timezone.now()
    secrets_ = [subscription.secret]
    if (
        subscription.previous_secret
        and subscription.previous_secret_expires_at
        and now < (subscription.previous_secret_expires_at)
    ):
        secrets_.append(subscription.previous_secret)
    return secrets_


def subscription_ping(*, subscription_id: Any, by: User) -> outbound.Outcome:
    """Send a `webhook.ping` now and tell how the receiver answered (nothing is stored)."""
    import uuid

    subscription = _managed(subscription_id=subscription_id, by=by)
    message_id = f"ping_{uuid.uuid4()}"
    body = json.dumps(
        {
            "id": message_id,
            "type": PING_EVENT_TYPE,
            "timestamp": timezone.now().astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
            "case": None,
            "external_no": None,
            "data": {"webhook": str(subscription.pk)},
        },
        ensure_ascii=False,
    ).encode()
    headers = outbound.signed_headers(secrets_=subscription_secrets(subscription), message_id=message_id, body=body)
    return outbound.post(url=subscription.url, body=body, headers=headers)


@transaction.atomic
def delivery_retry(*, subscription_id: Any, delivery_id: Any, by: User) -> Delivery:
    """Send a delivery again now (also a dead-lettered or delivered one)."""
    subscription = _managed(subscription_id=subscription_id, by=by)
    delivery = Delivery.objects.select_for_update().filter(pk=delivery_id, subscription=subscription).first()
    if delivery is None:
        raise NotFound("No such delivery.")
    delivery.status = DeliveryStatus.PENDING
    delivery.attempts = 0
    delivery.next_attempt_at = timezone.now()
    delivery.save(update_fields=["status", "attempts", "next_attempt_at"])
    pair = (subscription.pk, delivery.case_id)
    transaction.on_commit(lambda: drain_schedule(*pair))
    return delivery


def _matches(subscription: Subscription, event_type: str) -> bool:
    return not subscription.events or event_type in subscription.events


@transaction.atomic
def subscription_replay(*, subscription_id: Any, by: User, since: dt.datetime) -> int:
    """Queue again every event since `since` the subscription would have received; returns how many."""
    subscription = _managed(subscription_id=subscription_id, by=by)
    events = (
        events_after(position=0)
        .filter(
            occurred_at__gte=since,
            case_id__in=cases_visible_to_organization(organization=subscription.organization).values("pk"),
        )
        .values_list("id", "type", "case_id", "position")
    )
    limit = settings.WEBHOOK_REPLAY_MAX_EVENTS
    rows = [row for row in events[: limit + 1] if _matches(subscription, row[1])]
    if len(rows) > limit:
        raise ValidationFailed(
            f"More than {limit} events since then; replay a later `since`.",
            code="replay_too_large",
            errors={"since": [f"At most {limit} events."]},
        )
    now = timezone.now()
    event_ids = [row[0] for row in rows]
    Delivery.objects.filter(subscription=subscription, event_id__in=event_ids).update(
        status=DeliveryStatus.PENDING, attempts=0, next_attempt_at=now
    )
    Delivery.objects.bulk_create(
        [
            Delivery(
                subscription=subscription,
                event_id=event_id,
                case_id=case_id,
                position=position,
                next_attempt_at=now,
            )
            for event_id, _type, case_id, position in rows
        ],
        ignore_conflicts=True,
    )
    pairs = {(subscription.pk, row[2]) for row in rows}
    transaction.on_commit(lambda: [drain_schedule(*pair) for pair in pairs])
    return len(rows)


# --- relay -----------------------------------------------------------------------------------


def relay_schedule() -> None:
    """Queue a relay run (at most one waits at a time)."""
    from procrastinate.exceptions import AlreadyEnqueued

    from backend.events.tasks import events_relay_task

    try:
        # A savepoint: the refused duplicate must not spoil an enclosing transaction.
        with transaction.atomic():
            events_relay_task.configure(queueing_lock="events.relay").defer()
    except AlreadyEnqueued:
        pass


def events_relay(*, batch: int | None = None) -> int:
    """Turn the next committed events into deliveries; returns how many events it read.

    Runs under the cursor's row lock, so two relays never hand out the same events; reads in
    position (commit) order, so a case's deliveries are created in the order they must go out.
    """
    batch = batch or settings.WEBHOOK_RELAY_BATCH
    total = 0
    while True:
        read = _relay_batch(batch)
        total += read
        if read < batch:
            return total


@transaction.atomic
def _relay_batch(batch: int) -> int:
    cursor, _ = RelayCursor.objects.select_for_update().get_or_create(pk=1)
    events = list(
        events_after(position=cursor.position).values("id", "type", "case_id", "position", "occurred_at")[:batch]
    )
    if not events:
        return 0
    subscriptions = list(Subscription.objects.filter(is_active=True, paused_at__isnull=True))
    case_ids = {event["case_id"] for event in events}
    visible: dict[Any, set] = {}
    for organization in Organization.objects.filter(pk__in={s.organization_id for s in subscriptions}):
        visible[organization.pk] = set(
            cases_visible_to_organization(organization=organization)
            .filter(pk__in=case_ids)
            .values_list("pk", flat=True)
        )
    deliveries = []
    pairs = set()
    for event in events:
        for subscription in subscriptions:
            if (
                event["case_id"] in visible[subscription.organization_id]
                and _matches(subscription, event["type"])
                and event["occurred_at"] >= subscription.created_at
            ):
                deliveries.append(
                    Delivery(
                        subscription=subscription,
                        event_id=event["id"],
                        case_id=event["case_id"],
                        position=event["position"],
                    )
                )
                pairs.add((subscription.pk, event["case_id"]))
    Delivery.objects.bulk_create(deliveries, ignore_conflicts=True, batch_size=1000)
    cursor.position, cursor.updated_at = events[-1]["position"], timezone.now()
    cursor.save()
    transaction.on_commit(lambda: [drain_schedule(*pair) for pair in pairs])
    return len(events)


# --- delivery --------------------------------------------------------------------------------


def drain_schedule(subscription_id: Any, case_id: Any, *, at: dt.datetime | None = None) -> None:
    from backend.events.tasks import deliveries_drain_task

    task = deliveries_drain_task.configure(schedule_at=at) if at else deliveries_drain_task
    task.defer(subscription_id=str(subscription_id), case_id=str(case_id))


def drains_schedule_for(*, subscription_id: Any) -> None:
    case_ids = (
        Delivery.objects.filter(subscription_id=subscription_id, status=DeliveryStatus.PENDING)
        .values_list("case_id", flat=True)
        .distinct()
    )
    for case_id in case_ids:
        drain_schedule(subscription_id, case_id)


def deliveries_sweep() -> int:
    """Queue a drain for every (subscription, case) with a delivery due (after a crash, a lost job)."""
    pairs = (
        Delivery.objects.filter(
            status=DeliveryStatus.PENDING,
            next_attempt_at__lte=timezone.now(),
            subscription__is_active=True,
            subscription__paused_at__isnull=True,
        )
        .values_list("subscription_id", "case_id")
        .distinct()[: settings.WEBHOOK_SWEEP_MAX_PAIRS]
    )
    count = 0
    for subscription_id, case_id in pairs:
        drain_schedule(subscription_id, case_id)
        count += 1
    return count


def retry_delay_seconds(attempts: int) -> float:
    """Exponential backoff with jitter: base × factor^(attempts-1), capped, ±25 % at random."""
    delay = min(
        settings.WEBHOOK_RETRY_BASE_SECONDS * settings.WEBHOOK_RETRY_FACTOR ** (attempts - 1),
        settings.WEBHOOK_RETRY_MAX_DELAY_SECONDS,
    )
    return delay * random.uniform(0.75, 1.25)  # noqa: S311 - jitter, not a secret


def _drain_advisory_lock_key(subscription_id: Any, case_id: Any) -> int:
    # One advisory lock per (subscription, case): one sender at a time keeps the case's order.
    # A session lock, so a killed worker's lock goes with its connection.
    return zlib.crc32(f"events:{subscription_id}:{case_id}".encode()) - 2**31


def deliveries_drain(*, subscription_id: Any, case_id: Any, budget: int | None = None) -> int:
    """Send the pending deliveries of one subscription and case, oldest first; returns how many succeeded."""
    budget = budget or settings.WEBHOOK_DRAIN_BUDGET
    key = _drain_advisory_lock_key(subscription_id, case_id)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [key])
        if not cursor.fetchone()[0]:
            return 0
    delivered = 0
    try:
        while delivered < budget:
            subscription = Subscription.objects.filter(pk=subscription_id).first()
            if subscription is None or not subscription.is_active or subscription.paused_at is not None:
                return delivered
            # The next few in order, read at once; a pause or deactivation is seen by the next read.
            batch = list(
                Delivery.objects.filter(subscription=subscription, case_id=case_id, status=DeliveryStatus.PENDING)
                .select_related("event")
                .order_by("position")[: min(50, budget - delivered)]
            )
            if not batch:
                return delivered
            for delivery in batch:
                if delivery.next_attempt_at > timezone.now():
                    drain_schedule(subscription_id, case_id, at=delivery.next_attempt_at)
                    return delivered
                sent_as = (delivery.attempts, delivery.next_attempt_at)
                outcome = _send(subscription, delivery)
                status = _record_outcome(subscription=subscription, delivery=delivery, outcome=outcome, sent_as=sent_as)
                if status == DeliveryStatus.SUCCEEDED:
                    delivered += 1
                elif status == DeliveryStatus.PENDING:
                    if subscription.is_active and subscription.paused_at is None:
                        drain_schedule(subscription_id, case_id, at=delivery.next_attempt_at)
                    return delivered
        drain_schedule(subscription_id, case_id)
        return delivered
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [key])
        # A delivery queued while this sender held the lock (a replay, a retry, the next event)
        # had its own drain turned away by the lock: look once more now that it is free.
        if Delivery.objects.filter(
            subscription_id=subscription_id,
            case_id=case_id,
            status=DeliveryStatus.PENDING,
            next_attempt_at__lte=timezone.now(),
            subscription__is_active=True,
            subscription__paused_at__isnull=True,
        ).exists():
            drain_schedule(subscription_id, case_id)


def _send(subscription: Subscription, delivery: Delivery) -> outbound.Outcome:
    envelope = event_envelope(delivery.event)
    body = json.dumps(envelope, ensure_ascii=False, separators=(",", ":")).encode()
    headers = outbound.signed_headers(secrets_=subscription_secrets(subscription), message_id=envelope["id"], body=body)
    return outbound.post(url=subscription.url, body=body, headers=headers)


OUTCOME_FIELDS = ["attempts", "last_attempt_at", "last_status_code", "last_latency_ms", "last_error", "attempt_log"]


def _record_outcome(
    *, subscription: Subscription, delivery: Delivery, outcome: outbound.Outcome, sent_as: tuple[int, dt.datetime]
) -> str:
    """Store the attempt's outcome; `sent_as` is the delivery's (attempts, next_attempt_at) when it was sent."""
    now = timezone.now()
    delivery.attempts += 1
    delivery.last_attempt_at = now
    delivery.last_status_code = outcome.status_code
    delivery.last_latency_ms = outcome.latency_ms
    delivery.last_error = outcome.error
    delivery.attempt_log = [
        *delivery.attempt_log[-19:],
        {
            "at": now.isoformat(),
            "status_code": outcome.status_code,
            "latency_ms": outcome.latency_ms,
            "error": outcome.error[:200],
        },
    ]
    if outcome.is_success:
        # No lock on the subscription: senders of other cases go on in parallel.
        delivery.status = DeliveryStatus.SUCCEEDED
        delivery.delivered_at = now
        if subscription.failing_since is not None:
            Subscription.objects.filter(pk=subscription.pk).update(failing_since=None)
            subscription.failing_since = None
        _save_outcome(delivery, [*OUTCOME_FIELDS, "status", "delivered_at"], sent_as=sent_as)  # one UPDATE
        return delivery.status
    with transaction.atomic():
        return _record_failure(subscription=subscription, delivery=delivery, outcome=outcome, now=now, sent_as=sent_as)


def _record_failure(
    *, subscription: Subscription, delivery: Delivery, outcome: outbound.Outcome, now, sent_as: tuple[int, dt.datetime]
) -> str:
    subscription = Subscription.objects.select_for_update().get(pk=subscription.pk)
    if outcome.status_code == 410:
        # The receiver says the endpoint is gone for good: stop sending, keep what is pending.
        delivery.next_attempt_at = now
        _pause(subscription, reason=PauseReason.GONE, now=now)
    else:
        if delivery.attempts >= settings.WEBHOOK_MAX_ATTEMPTS:
            delivery.status = DeliveryStatus.DEAD
        else:
            delivery.next_attempt_at = now + dt.timedelta(seconds=retry_delay_seconds(delivery.attempts))
        if subscription.failing_since is None:
            Subscription.objects.filter(pk=subscription.pk).update(failing_since=now)
        elif now - subscription.failing_since >= dt.timedelta(seconds=settings.WEBHOOK_PAUSE_AFTER_SECONDS):
            _pause(subscription, reason=PauseReason.FAILING, now=now)
    _save_outcome(delivery, [*OUTCOME_FIELDS, "status", "next_attempt_at"], sent_as=sent_as)
    return delivery.status


def _save_outcome(delivery: Delivery, fields: list[str], *, sent_as: tuple[int, dt.datetime]) -> None:
    """Store the attempt unless a retry or replay queued the delivery again meanwhile (then it goes again).

    Both give it a new due time, later than the one it was sent at; the attempt count alone cannot
    tell, since a first attempt and a replay both start from 0.
    """
    attempts, next_attempt_at = sent_as
    Delivery.objects.filter(pk=delivery.pk, attempts=attempts, next_attempt_at=next_attempt_at).update(
        **{name: getattr(delivery, name) for name in fields}
    )


def _pause(subscription: Subscription, *, reason: str, now: dt.datetime) -> None:
    from backend.notifications.models import NotificationKind
    from backend.notifications.services import notifications_send

    Subscription.objects.filter(pk=subscription.pk).update(
        is_active=False, paused_at=now, pause_reason=reason, updated_at=now
    )
    subscription.is_active, subscription.paused_at, subscription.pause_reason = False, now, reason
    owners = list(
        User.objects.filter(is_active=True).filter(
            Q(organization_id=subscription.organization_id, roles__overlap=[Role.ADMINISTRATOR, Role.INTEGRATION])
            | Q(pk=subscription.created_by_id)
        )
    )
    why = "接收方返回 410，订阅已停用" if reason == PauseReason.GONE else "推送持续失败，订阅已暂停"
    notifications_send(
        recipients=owners,
        kind=NotificationKind.WEBHOOK_PAUSED,
        subject=f"webhook:{subscription.pk}",
        day=timezone.localdate(now),
        title=f"推送订阅已暂停：{subscription.url}"[:200],
        body=f"{why}。修复接收端后，将订阅设为启用（is_active=true）即可恢复推送。",
        data={"webhook": str(subscription.pk), "reason": reason, "url": subscription.url},
    )
