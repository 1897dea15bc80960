"""Signed checkpoints of the audit log, and verifying the log against them.

Entries chain per record (backend.audit.services), so the links show an edited entry and an entry
removed or moved inside its record's history, but not a record's newest entries cut off, a whole
record's history removed, the log truncated, or entries of different records swapped. A checkpoint
covers all that: off the request path (`manage.py audit_checkpoint`, the worker every 10 min), it
folds every entry up to the feed's horizon, in feed order `(txid, id)`, into one digest,
`digest = SHA-256(digest + "txid:id:hash\n")` from the previous checkpoint's digest (the genesis
hash for the first), and the server signs (sequence, created_at, last_txid, last_entry_id,
last_entry_hash, entry_count, digest, key_id) with its Ed25519 key (backend.common.signing_keys),
which the database does not hold. Entries below the horizon never change place in feed order (see
audit_feed_horizon), so a later walk folds exactly the same entries to the same digest.

The signed message is `MESSAGE_PREFIX` + canonical JSON of exactly those fields, as exported by
`audit_checkpoints --export`, so a third party can check an export with the public key it carries.
Checkpoints signed before feed order existed (format 1: no digest, `MESSAGE_PREFIX_V1`) still
verify: their entries have txid 0 and are checked by head hash and count as before.

A checkpoint is only signed over a log that verifies since the previous checkpoint: signing a
tampered head would vouch for it.
"""

import datetime as dt
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from backend.audit.models import AuditCheckpoint, AuditEntry
from backend.audit.services import GENESIS_HASH, audit_feed_horizon, canonical_json, entry_hash, entry_payload
from backend.common import signing_keys

MESSAGE_PREFIX = b"audit-checkpoint-v2\n"
MESSAGE_PREFIX_V1 = b"audit-checkpoint-v1\n"
# Arbitrary constant: serialises checkpoint writers (not the log's writers).
CHECKPOINT_LOCK_KEY = 7_302_211_002
EXPORT_FORMAT = "audit-checkpoints/1"


@dataclass(frozen=True)
class AuditProblem:
    code: str
    message: str


@dataclass
class AuditReport:
    entry_count: int = 0
    last_entry_id: int | None = None
    checkpoints: list[AuditCheckpoint] = field(default_factory=list)
    problems: list[AuditProblem] = field(default_factory=list)
    digest: str = GENESIS_HASH
    last_position: tuple[int, int] = (0, 0)

    @property
    def is_intact(self) -> bool:
        return not self.problems


class AuditChainBroken(Exception):
    def __init__(self, problems: Sequence[AuditProblem]):
        self.problems = list(problems)
        super().__init__("; ".join(problem.message for problem in self.problems))


def checkpoint_payload(checkpoint: AuditCheckpoint) -> dict[str, Any]:
    payload = {
        "sequence": checkpoint.sequence,
        "created_at": checkpoint.created_at.isoformat(),
        "last_entry_id": checkpoint.last_entry_id,
        "last_entry_hash": checkpoint.last_entry_hash,
        "entry_count": checkpoint.entry_count,
        "key_id": checkpoint.key_id,
    }
    if checkpoint.digest:
        payload["last_txid"] = checkpoint.last_txid
        payload["digest"] = checkpoint.digest
    return payload


def checkpoint_message(checkpoint: AuditCheckpoint) -> bytes:
    prefix = MESSAGE_PREFIX if checkpoint.digest else MESSAGE_PREFIX_V1
    return prefix + canonical_json(checkpoint_payload(checkpoint)).encode("utf-8")


def checkpoint_signature_problem(checkpoint: AuditCheckpoint) -> AuditProblem | None:
    reason = signing_keys.verify(checkpoint_message(checkpoint), checkpoint.signature, checkpoint.key_id)
    if reason is None:
        return None
    return AuditProblem(
        "checkpoint_forged",
        f"checkpoint {checkpoint.sequence} does not carry a valid server signature ({reason}): "
        "it was forged or altered",
    )


def _position(checkpoint: AuditCheckpoint) -> tuple[int, int]:
    return (checkpoint.last_txid or 0, checkpoint.last_entry_id)


def fold(digest: str, txid: int, entry_id: int, entry_hash_: str) -> str:
    return hashlib.sha256(f"{digest}{txid}:{entry_id}:{entry_hash_}\n".encode()).hexdigest()


# --- writing --------------------------------------------------------------------------------


def _feed_head() -> tuple[int, int, str] | None:
    """The newest entry in feed order below the horizon: it and everything before it are final."""
    horizon = audit_feed_horizon()
    return (
        AuditEntry.objects.filter(txid__lt=horizon).order_by("-txid", "-id").values_list("txid", "id", "hash").first()
    )


def audit_checkpoint_create(*, now: dt.datetime | None = None) -> AuditCheckpoint | None:
    """Sign the log's current head; None when nothing was appended since the last checkpoint.

    Raises AuditChainBroken, signing nothing, when the previous checkpoint does not verify or the
    entries since it do not chain onto it.
    """
    head = _feed_head()
    if head is None:
        return None
    head_txid, head_id, head_hash = head
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [CHECKPOINT_LOCK_KEY])
        previous = AuditCheckpoint.objects.order_by("-sequence").first()
        if previous is not None and (_position(previous), previous.last_entry_hash) == (
            (head_txid, head_id),
            head_hash,
        ):
            return None
        if previous is not None and (forged := checkpoint_signature_problem(previous)) is not None:
            raise AuditChainBroken([forged])
        if previous is not None and previous.digest:
            walked = _walk(checkpoints=[], start=previous, up_to=(head_txid, head_id))
        else:
            # The first checkpoint, or the first since format 2: fold the whole log (once).
            walked = _walk(checkpoints=[previous] if previous is not None else [], up_to=(head_txid, head_id))
        entry_count = _count_up_to((head_txid, head_id))
        if previous is not None and not walked.problems and entry_count != walked.entry_count:
            appended = walked.entry_count - previous.entry_count
            walked.problems.append(
                AuditProblem(
                    "entry_count_mismatch",
                    f"the log has {entry_count} entries up to #{head_id}, not the {previous.entry_count} of "
                    f"checkpoint {previous.sequence} and the {appended} appended since: entries up to "
                    f"#{previous.last_entry_id} were removed or inserted",
                )
            )
        if walked.problems:
            raise AuditChainBroken(walked.problems)
        key = signing_keys.signing_key()
        checkpoint = AuditCheckpoint(
            sequence=(previous.sequence + 1) if previous is not None else 1,
            created_at=now or timezone.now(),
            last_txid=head_txid,
            last_entry_id=head_id,
            last_entry_hash=head_hash,
            entry_count=entry_count,
            digest=walked.digest,
            key_id=key.key_id,
        )
        checkpoint.signature = signing_keys.base64_signature(key, checkpoint_message(checkpoint))
        checkpoint.save(force_insert=True)
        return checkpoint


def _count_up_to(position: tuple[int, int]) -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM audit_auditentry WHERE (txid, id) <= (%s, %s)", list(position))
        return cursor.fetchone()[0]


# --- verifying ------------------------------------------------------------------------------


def audit_verify(*, exported: Sequence[AuditCheckpoint] = ()) -> AuditReport:
    """Walk the whole log and hold it against every checkpoint with a valid signature.

    `exported`: checkpoints from an export (`audit_checkpoints --export`), kept outside the
    database; those missing from the table are reported and still checked against the log.
    """
    stored = list(AuditCheckpoint.objects.order_by("sequence"))
    by_sequence = {checkpoint.sequence: checkpoint for checkpoint in stored}
    problems: list[AuditProblem] = []
    trusted: dict[int, AuditCheckpoint] = {}
    for checkpoint in stored:
        forged = checkpoint_signature_problem(checkpoint)
        if forged is None:
            trusted[checkpoint.sequence] = checkpoint
        else:
            problems.append(forged)
    reported_missing: set[int] = set()
    for checkpoint in exported:
        forged = checkpoint_signature_problem(checkpoint)
        if forged is not None:
            problems.append(AuditProblem(forged.code, "exported " + forged.message))
            continue
        mine = by_sequence.get(checkpoint.sequence)
        if mine is None:
            reported_missing.add(checkpoint.sequence)
            problems.append(
                AuditProblem(
                    "checkpoint_missing",
                    f"exported checkpoint {checkpoint.sequence} is not in the database: it was removed",
                )
            )
        elif (checkpoint_payload(mine), mine.signature) != (checkpoint_payload(checkpoint), checkpoint.signature):
            problems.append(
                AuditProblem(
                    "checkpoint_differs",
                    f"checkpoint {checkpoint.sequence} in the database differs from the exported one",
                )
            )
        trusted.setdefault(checkpoint.sequence, checkpoint)
    newest = max(by_sequence, default=0)
    for sequence in range(1, newest):
        if sequence not in by_sequence and sequence not in reported_missing:
            problems.append(
                AuditProblem("checkpoint_missing", f"checkpoint {sequence} is not in the database: it was removed")
            )
    report = _walk(checkpoints=list(trusted.values()))
    report.problems[:0] = problems
    return report


def _walk(
    *,
    checkpoints: Iterable[AuditCheckpoint],
    start: AuditCheckpoint | None = None,
    up_to: tuple[int, int] | None = None,
    batch_size: int = 5000,
) -> AuditReport:
    """One pass in feed order: each entry's hash, each record chain's links, and each checkpoint's
    head, count and digest.

    `start`: begin after this (verified, format 2) checkpoint's entry instead of the beginning.
    """
    report = AuditReport(checkpoints=sorted(checkpoints, key=lambda c: (_position(c), c.sequence)))
    pending = list(report.checkpoints)
    problems = report.problems
    digest, count, after = GENESIS_HASH, 0, (-1, 0)
    if start is not None:
        anchor = AuditEntry.objects.filter(id=start.last_entry_id, txid=start.last_txid).first()
        if anchor is None:
            last_id = AuditEntry.objects.order_by("-txid", "-id").values_list("id", flat=True).first()
            problems.append(_missing_problem(start, last_id=last_id))
            return report
        if anchor.hash != start.last_entry_hash or _content_hash(anchor) != anchor.hash:
            problems.append(_changed_problem(start))
            return report
        digest, count, after = start.digest, start.entry_count, _position(start)
        report.last_entry_id = anchor.id
    broken_links = _broken_links(after=after, up_to=up_to)
    for entry in _entries(after=after, up_to=up_to, batch_size=batch_size):
        position = (entry.txid, entry.id)
        while pending and _position(pending[0]) < position:
            problems.extend(_checkpoint_passed(pending.pop(0), count=count, last_id=report.last_entry_id))
        if entry.id in broken_links:
            problems.append(
                AuditProblem(
                    "chain_broken",
                    f"entry #{entry.id}: prev_hash does not match the previous entry's hash "
                    "(an entry was removed or reordered)",
                )
            )
        elif _content_hash(entry) != entry.hash:
            problems.append(
                AuditProblem("entry_edited", f"entry #{entry.id}: content does not match its hash (it was edited)")
            )
        digest = fold(digest, entry.txid, entry.id, entry.hash)
        count += 1
        report.last_entry_id = entry.id
        report.last_position = position
        while pending and _position(pending[0]) == position:
            checkpoint = pending.pop(0)
            if entry.hash != checkpoint.last_entry_hash:
                problems.append(_changed_problem(checkpoint))
            elif checkpoint.digest and digest != checkpoint.digest:
                problems.append(_reordered_problem(checkpoint))
            if count != checkpoint.entry_count:
                problems.append(_count_problem(checkpoint, count=count))
    for checkpoint in pending:
        problems.extend(_checkpoint_passed(checkpoint, count=count, last_id=report.last_entry_id))
    report.entry_count = count
    report.digest = digest
    return report


def _broken_links(*, after: tuple[int, int], up_to: tuple[int, int] | None) -> set[int]:
    """Ids of entries (after `after`, up to `up_to` in feed order) whose prev_hash is not the hash
    of the entry before them in their chain: their record's previous entry by id (chain 'record'),
    or the previous entry of the old global chain (chain 'log'). Index lookups, in the database."""
    bound = "AND (e.txid, e.id) <= (%s, %s)" if up_to is not None else ""
    sql = f"""
        SELECT e.id FROM audit_auditentry e
        WHERE (e.txid, e.id) > (%s, %s) {bound}
          AND e.prev_hash <> coalesce(
              CASE WHEN e.chain = 'log' THEN
                  (SELECT p.hash FROM audit_auditentry p WHERE p.chain = 'log' AND p.id < e.id
                   ORDER BY p.id DESC LIMIT 1)
              ELSE
                  (SELECT p.hash FROM audit_auditentry p
                   WHERE p.record_type = e.record_type AND p.record_id = e.record_id AND p.id < e.id
                   ORDER BY p.id DESC LIMIT 1)
              END, %s)
    """
    params = [*after, *(up_to or ()), GENESIS_HASH]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {row[0] for row in cursor.fetchall()}


def _content_hash(entry: AuditEntry) -> str:
    return entry_hash(prev_hash=entry.prev_hash, payload=entry_payload(entry))


def _checkpoint_passed(checkpoint: AuditCheckpoint, *, count: int, last_id: int | None) -> list[AuditProblem]:
    problems = [_missing_problem(checkpoint, last_id=last_id)]
    if count != checkpoint.entry_count:
        problems.append(_count_problem(checkpoint, count=count))
    return problems


def _missing_problem(checkpoint: AuditCheckpoint, *, last_id: int | None) -> AuditProblem:
    if last_id is None:
        where = "the log is empty (truncated)"
    elif last_id < checkpoint.last_entry_id:
        where = f"the log ends at #{last_id}: its newest entries were deleted"
    else:
        where = "it was deleted"
    return AuditProblem(
        "checkpointed_entry_missing",
        f"entry #{checkpoint.last_entry_id}, signed by checkpoint {checkpoint.sequence}, is missing: {where}",
    )


def _changed_problem(checkpoint: AuditCheckpoint) -> AuditProblem:
    return AuditProblem(
        "checkpointed_entry_changed",
        f"entry #{checkpoint.last_entry_id} no longer has the hash checkpoint {checkpoint.sequence} signed: "
        "the log was rewritten up to it",
    )


def _reordered_problem(checkpoint: AuditCheckpoint) -> AuditProblem:
    return AuditProblem(
        "checkpoint_digest_mismatch",
        f"the entries up to #{checkpoint.last_entry_id} no longer fold to the digest checkpoint "
        f"{checkpoint.sequence} signed: entries before it were removed, inserted, rewritten or reordered",
    )


def _count_problem(checkpoint: AuditCheckpoint, *, count: int) -> AuditProblem:
    return AuditProblem(
        "entry_count_mismatch",
        f"checkpoint {checkpoint.sequence} counted {checkpoint.entry_count} entries up to "
        f"#{checkpoint.last_entry_id}; the log now has {count}",
    )


def _entries(*, after: tuple[int, int], up_to: tuple[int, int] | None, batch_size: int):
    """Entries after `after` in feed order, in batches (keyset pagination on the feed index)."""
    bound = " AND (txid, id) <= (%s, %s)" if up_to is not None else ""
    while True:
        batch = list(
            AuditEntry.objects.extra(where=[f"(txid, id) > (%s, %s){bound}"], params=[*after, *(up_to or ())]).order_by(
                "txid", "id"
            )[:batch_size]
        )
        if not batch:
            return
        yield from batch
        after = (batch[-1].txid, batch[-1].id)


# --- export ---------------------------------------------------------------------------------


def audit_checkpoints_export() -> dict[str, Any]:
    """Every checkpoint, with the public keys that verify them, for keeping outside the database."""
    checkpoints = list(AuditCheckpoint.objects.order_by("sequence"))
    known = signing_keys.public_keys()
    used = sorted({checkpoint.key_id for checkpoint in checkpoints})
    return {
        "format": EXPORT_FORMAT,
        "exported_at": timezone.now().isoformat(),
        "message": f"{MESSAGE_PREFIX.decode().strip()} + newline + canonical JSON of a checkpoint without signature",
        "public_keys": {key_id: signing_keys.public_key_hex(known[key_id]) for key_id in used if key_id in known},
        "checkpoints": [
            {**checkpoint_payload(checkpoint), "signature": checkpoint.signature} for checkpoint in checkpoints
        ],
    }


def audit_checkpoints_parse(data: Any) -> list[AuditCheckpoint]:
    """The checkpoints of an export, as unsaved instances; ValueError when it is not one."""
    if (
        not isinstance(data, dict)
        or data.get("format") != EXPORT_FORMAT
        or not isinstance(data.get("checkpoints"), list)
    ):
        raise ValueError(f"not an audit checkpoint export (format {EXPORT_FORMAT})")
    parsed = []
    for index, item in enumerate(data["checkpoints"]):
        try:
            parsed.append(
                AuditCheckpoint(
                    sequence=_integer(item["sequence"]),
                    created_at=dt.datetime.fromisoformat(item["created_at"]),
                    last_entry_id=_integer(item["last_entry_id"]),
                    last_entry_hash=str(item["last_entry_hash"]),
                    entry_count=_integer(item["entry_count"]),
                    last_txid=_integer(item.get("last_txid", 0)),
                    digest=str(item.get("digest", "")),
                    key_id=str(item["key_id"]),
                    signature=str(item["signature"]),
                )
            )
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"checkpoint {index} of the export is malformed: {error}") from error
    return parsed


def _integer(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{value!r} is not an integer")
    return value
