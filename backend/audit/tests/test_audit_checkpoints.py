"""Signed checkpoints and the tampering they expose.

Every attack is done as an attacker with database access would: raw SQL, disabling the append-only
triggers where needed (a table owner or superuser can), recomputing hashes with the published
algorithm. Only the server's signing key is out of reach.
"""

import base64
import hashlib
import json
import uuid

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction

from backend.audit.checkpoints import (
    AuditChainBroken,
    AuditProblem,
    audit_checkpoint_create,
    audit_verify,
    checkpoint_message,
)
from backend.audit.models import AuditCheckpoint, AuditEntry
from backend.audit.services import GENESIS_HASH, audit_append, entry_hash, entry_payload
from backend.common import signing_keys

pytestmark = pytest.mark.django_db


RECORD_ID = uuid.uuid4()


def _append(n: int, record_id: uuid.UUID = RECORD_ID) -> list[AuditEntry]:
    """`n` changes of one record, so that they form one chain (other tests use several)."""
    with transaction.atomic():
        return [
            audit_append(action="update", record_type="survey", record_id=record_id, after={"n": i}) for i in range(n)
        ]


def _sql(*statements: str | tuple[str, list]) -> None:
    """Each statement is SQL, or (SQL, parameters)."""
    with connection.cursor() as cursor:
        for statement in statements:
            sql, params = statement if isinstance(statement, tuple) else (statement, None)
            cursor.execute(sql, params)


def _without_triggers(*statements: str | tuple[str, list]) -> None:
    _sql(
        "ALTER TABLE audit_auditentry DISABLE TRIGGER USER",
        "ALTER TABLE audit_auditcheckpoint DISABLE TRIGGER USER",
        *statements,
        "ALTER TABLE audit_auditentry ENABLE TRIGGER USER",
        "ALTER TABLE audit_auditcheckpoint ENABLE TRIGGER USER",
    )


def _verify_fails(match: str) -> None:
    with pytest.raises(CommandError, match=match):
        call_command("audit_verify")


# --- the database refuses ---------------------------------------------------------------------


def test_truncate_of_the_log_and_of_the_checkpoints_is_refused():
    entries = _append(2)
    audit_checkpoint_create()
    for table in ("audit_auditentry", "audit_auditcheckpoint"):
        with pytest.raises(DatabaseError, match=f"{table} is append-only: TRUNCATE refused"), transaction.atomic():
            _sql(f"TRUNCATE {table}")
    assert list(AuditEntry.objects.values_list("id", flat=True)) == [entry.id for entry in entries]
    assert AuditCheckpoint.objects.count() == 1


def test_checkpoints_cannot_be_updated_or_deleted():
    _append(1)
    checkpoint = audit_checkpoint_create()
    with pytest.raises(DatabaseError, match="UPDATE refused"), transaction.atomic():
        _sql("UPDATE audit_auditcheckpoint SET entry_count = 0")
    with pytest.raises(DatabaseError, match="DELETE refused"), transaction.atomic():
        AuditCheckpoint.objects.filter(pk=checkpoint.pk).delete()
    assert AuditCheckpoint.objects.get().entry_count == 1


# --- signing ----------------------------------------------------------------------------------


def test_a_checkpoint_signs_the_head_and_count_and_only_when_the_log_grew():
    assert audit_checkpoint_create() is None  # nothing to sign in an empty log
    entries = _append(3)
    first = audit_checkpoint_create()
    assert (first.sequence, first.last_entry_id, first.last_entry_hash, first.entry_count) == (
        1,
        entries[-1].id,
        entries[-1].hash,
        3,
    )
    key = signing_keys.signing_key()
    assert first.key_id == key.key_id
    assert signing_keys.verify(checkpoint_message(first), first.signature, first.key_id) is None
    digest = GENESIS_HASH
    for entry in entries:
        digest = hashlib.sha256(f"{digest}{entry.txid}:{entry.id}:{entry.hash}\n".encode()).hexdigest()
    assert (first.last_txid, first.digest) == (entries[-1].txid, digest)
    assert checkpoint_message(first) == b"audit-checkpoint-v2\n" + json.dumps(
        {
            "created_at": first.created_at.isoformat(),
            "digest": digest,
            "entry_count": 3,
            "key_id": key.key_id,
            "last_entry_hash": entries[-1].hash,
            "last_entry_id": entries[-1].id,
            "last_txid": entries[-1].txid,
            "sequence": 1,
        },
        separators=(",", ":"),
    ).encode("utf-8")

    assert audit_checkpoint_create() is None
    more = _append(2)
    second = audit_checkpoint_create()
    assert (second.sequence, second.last_entry_id, second.entry_count) == (2, more[-1].id, 5)
    assert AuditCheckpoint.objects.count() == 2

    report = audit_verify()
    assert (report.entry_count, report.problems, [c.sequence for c in report.checkpoints]) == (5, [], [1, 2])
    call_command("audit_verify")


def test_the_command_and_the_periodic_task_sign(capsys):
    from procrastinate.contrib.django import app

    from backend.audit.tasks import audit_checkpoint_task

    _append(1)
    call_command("audit_checkpoint")
    assert "checkpoint 1: entry #" in capsys.readouterr().out
    call_command("audit_checkpoint")
    assert capsys.readouterr().out == "nothing to sign: no entry since the last checkpoint\n"
    _append(1)
    assert audit_checkpoint_task(timestamp=0) == 2
    assert audit_checkpoint_task(timestamp=0) is None
    periodic = app.periodic_registry.periodic_tasks[("audit.checkpoint", "")]
    assert periodic.cron == "*/10 * * * *"


def test_a_broken_chain_is_not_signed():
    entries = _append(3)
    _without_triggers(("UPDATE audit_auditentry SET reason = 'forged' WHERE id = %s", [entries[1].id]))
    with pytest.raises(AuditChainBroken, match=f"entry #{entries[1].id}: content does not match its hash"):
        audit_checkpoint_create()
    with pytest.raises(CommandError, match="not signed, the chain does not verify"):
        call_command("audit_checkpoint")
    assert AuditCheckpoint.objects.count() == 0


def test_no_checkpoint_extends_a_log_whose_checkpointed_head_was_cut_off():
    entries = _append(3)
    audit_checkpoint_create()
    _without_triggers(("DELETE FROM audit_auditentry WHERE id = %s", [entries[-1].id]))
    _append(2)  # new entries chain onto the cut log, so the chain alone looks whole
    assert audit_verify(exported=()).problems[0].code == "checkpointed_entry_missing"
    with pytest.raises(AuditChainBroken, match=f"entry #{entries[-1].id}, signed by checkpoint 1, is missing"):
        audit_checkpoint_create()
    assert AuditCheckpoint.objects.count() == 1


def test_the_periodic_checkpoint_fails_loudly_when_the_newest_entries_were_cut_off():
    entries = _append(3)
    audit_checkpoint_create()
    _without_triggers(("DELETE FROM audit_auditentry WHERE id > %s", [entries[0].id]))
    with pytest.raises(AuditChainBroken) as raised:
        audit_checkpoint_create()
    assert raised.value.problems == [
        AuditProblem(
            "checkpointed_entry_missing",
            f"entry #{entries[2].id}, signed by checkpoint 1, is missing: "
            f"the log ends at #{entries[0].id}: its newest entries were deleted",
        )
    ]
    assert AuditCheckpoint.objects.count() == 1


# --- tampering detected -------------------------------------------------------------------------


def test_deleting_the_newest_entries_is_detected():
    entries = _append(5)
    audit_checkpoint_create()
    _without_triggers(("DELETE FROM audit_auditentry WHERE id > %s", [entries[2].id]))

    report = audit_verify()
    assert report.entry_count == 3
    assert report.problems == [
        AuditProblem(
            "checkpointed_entry_missing",
            f"entry #{entries[4].id}, signed by checkpoint 1, is missing: "
            f"the log ends at #{entries[2].id}: its newest entries were deleted",
        ),
        AuditProblem(
            "entry_count_mismatch", f"checkpoint 1 counted 5 entries up to #{entries[4].id}; the log now has 3"
        ),
    ]
    _verify_fails("audit log tampered with: 3 entries, 1 signed checkpoints checked")


def test_rewriting_an_entry_and_recomputing_every_later_hash_is_detected():
    entries = _append(4)
    audit_checkpoint_create()
    # The attacker rewrites entry 1 and re-chains 1..3 so that the hash chain verifies again.
    prev_hash = entries[0].hash
    for entry in AuditEntry.objects.filter(id__gt=entries[0].id).order_by("id"):
        if entry.id == entries[1].id:
            entry.after = {"n": 1000}
        new_hash = entry_hash(prev_hash=prev_hash, payload=entry_payload(entry))
        _without_triggers(
            (
                "UPDATE audit_auditentry SET after = %s::jsonb, prev_hash = %s, hash = %s WHERE id = %s",
                [json.dumps(entry.after), prev_hash, new_hash, entry.id],
            )
        )
        prev_hash = new_hash

    report = audit_verify(exported=())
    assert report.entry_count == 4
    assert report.problems == [
        AuditProblem(
            "checkpointed_entry_changed",
            f"entry #{entries[3].id} no longer has the hash checkpoint 1 signed: the log was rewritten up to it",
        )
    ]
    # Without a checkpoint the rewrite would pass: the chain itself is consistent.
    _without_triggers("DELETE FROM audit_auditcheckpoint")
    assert audit_verify().problems == []


def test_truncate_by_a_superuser_with_the_trigger_disabled_is_detected():
    entries = _append(3)
    audit_checkpoint_create()
    _without_triggers("TRUNCATE audit_auditentry")

    report = audit_verify()
    assert report.entry_count == 0
    assert report.problems == [
        AuditProblem(
            "checkpointed_entry_missing",
            f"entry #{entries[2].id}, signed by checkpoint 1, is missing: the log is empty (truncated)",
        ),
        AuditProblem(
            "entry_count_mismatch", f"checkpoint 1 counted 3 entries up to #{entries[2].id}; the log now has 0"
        ),
    ]
    _verify_fails("audit log tampered with: 0 entries, 1 signed checkpoints checked")


def test_a_checkpoint_rewritten_to_match_a_shortened_log_is_forged():
    entries = _append(4)
    checkpoint = audit_checkpoint_create()
    _without_triggers(
        ("DELETE FROM audit_auditentry WHERE id > %s", [entries[1].id]),
        (
            "UPDATE audit_auditcheckpoint SET last_entry_id = %s, last_entry_hash = %s, entry_count = 2",
            [entries[1].id, entries[1].hash],
        ),
    )
    report = audit_verify()
    assert report.entry_count == 2
    assert report.checkpoints == []
    assert report.problems == [
        AuditProblem(
            "checkpoint_forged",
            "checkpoint 1 does not carry a valid server signature (bad_signature): it was forged or altered",
        )
    ]
    assert AuditCheckpoint.objects.get().pk == checkpoint.pk
    _verify_fails("checkpoint_forged")


def test_a_checkpoint_signed_with_another_key_or_an_unknown_key_is_forged():
    _append(2)
    audit_checkpoint_create()
    more = _append(1)
    server_key_id = signing_keys.signing_key().key_id
    attacker = signing_keys.SigningKey(key_id=server_key_id, private_key=Ed25519PrivateKey.generate())
    forged = AuditCheckpoint(
        sequence=2,
        created_at=AuditCheckpoint.objects.get().created_at,
        last_entry_id=more[0].id,
        last_entry_hash=more[0].hash,
        entry_count=3,
        key_id=server_key_id,
    )
    forged.signature = signing_keys.base64_signature(attacker, checkpoint_message(forged))
    unknown = AuditCheckpoint(
        sequence=3,
        created_at=forged.created_at,
        last_entry_id=more[0].id,
        last_entry_hash=more[0].hash,
        entry_count=3,
        key_id="ed25519:attacker",
        signature=base64.b64encode(b"\0" * 64).decode(),
    )
    insert = (
        "INSERT INTO audit_auditcheckpoint (sequence, created_at, last_entry_id, last_entry_hash, entry_count,"
        " key_id, signature) VALUES (%s, %s, %s, %s, %s, %s, %s)"
    )
    for row in (forged, unknown):
        fields = [row.sequence, row.created_at, row.last_entry_id, row.last_entry_hash, row.entry_count]
        _sql((insert, [*fields, row.key_id, row.signature]))

    assert audit_verify().problems == [
        AuditProblem(
            "checkpoint_forged",
            "checkpoint 2 does not carry a valid server signature (bad_signature): it was forged or altered",
        ),
        AuditProblem(
            "checkpoint_forged",
            "checkpoint 3 does not carry a valid server signature (unknown_key): it was forged or altered",
        ),
    ]
    # Nothing is signed on top of a forged checkpoint.
    _append(1)
    with pytest.raises(AuditChainBroken, match="checkpoint 3 does not carry a valid server signature"):
        audit_checkpoint_create()


def test_a_removed_checkpoint_leaves_a_gap():
    for _ in range(3):
        _append(1)
        audit_checkpoint_create()
    _without_triggers("DELETE FROM audit_auditcheckpoint WHERE sequence = 2")
    assert audit_verify().problems == [
        AuditProblem("checkpoint_missing", "checkpoint 2 is not in the database: it was removed")
    ]


# --- export ------------------------------------------------------------------------------------


def test_export_and_verify_against_the_export_catch_what_the_database_no_longer_shows(tmp_path, capsys):
    first_entries = _append(2)
    first = audit_checkpoint_create()
    later_entries = _append(2)
    second = audit_checkpoint_create()
    export = tmp_path / "checkpoints.json"
    call_command("audit_checkpoints", "--export", str(export))
    assert capsys.readouterr().out == f"2 checkpoints written to {export}\n"

    data = json.loads(export.read_text("utf-8"))
    key = signing_keys.signing_key()
    assert data["format"] == "audit-checkpoints/1"
    assert data["public_keys"] == {key.key_id: signing_keys.public_key_hex(key.public_key)}
    assert data["checkpoints"] == [
        {
            "sequence": checkpoint.sequence,
            "created_at": checkpoint.created_at.isoformat(),
            "last_entry_id": checkpoint.last_entry_id,
            "last_entry_hash": checkpoint.last_entry_hash,
            "entry_count": checkpoint.entry_count,
            "key_id": key.key_id,
            "last_txid": checkpoint.last_txid,
            "digest": checkpoint.digest,
            "signature": checkpoint.signature,
        }
        for checkpoint in (first, second)
    ]
    # A third party checks an export with nothing but its public key.
    public_key = signing_keys.public_keys()[key.key_id]
    exported = data["checkpoints"][1]
    message = b"audit-checkpoint-v2\n" + json.dumps(
        {name: value for name, value in exported.items() if name != "signature"},
        sort_keys=True,
        separators=(",", ":"),
    ).encode("utf-8")
    public_key.verify(base64.b64decode(exported["signature"]), message)

    # The attacker removes the newest entries and the newest checkpoint: the database agrees with itself…
    _without_triggers(
        ("DELETE FROM audit_auditentry WHERE id > %s", [first_entries[-1].id]),
        "DELETE FROM audit_auditcheckpoint WHERE sequence = 2",
    )
    assert audit_verify().problems == []
    call_command("audit_verify")
    assert "audit chain intact: 2 entries; 1 signed checkpoints hold (newest: 1" in capsys.readouterr().out
    # …but not with the export.
    with pytest.raises(CommandError) as raised:
        call_command("audit_verify", "--checkpoints", str(export))
    assert str(raised.value).splitlines()[1:] == [
        "- checkpoint_missing: exported checkpoint 2 is not in the database: it was removed",
        f"- checkpointed_entry_missing: entry #{later_entries[-1].id}, signed by checkpoint 2, is missing: "
        f"the log ends at #{first_entries[-1].id}: its newest entries were deleted",
        f"- entry_count_mismatch: checkpoint 2 counted 4 entries up to #{later_entries[-1].id}; the log now has 2",
    ]


def test_verify_refuses_a_file_that_is_not_an_export(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "something else"}', "utf-8")
    with pytest.raises(CommandError, match="not an audit checkpoint export"):
        call_command("audit_verify", "--checkpoints", str(bad))
    bad.write_text('{"format": "audit-checkpoints/1", "checkpoints": [{"sequence": "1"}]}', "utf-8")
    with pytest.raises(CommandError, match="checkpoint 0 of the export is malformed"):
        call_command("audit_verify", "--checkpoints", str(bad))


def test_the_test_runners_flush_leaves_the_truncate_triggers_on(transactional_db):
    with transaction.atomic():
        audit_append(action="create", record_type="survey", record_id=uuid.uuid4())
    audit_checkpoint_create()
    call_command("flush", verbosity=0, interactive=False)
    assert (AuditEntry.objects.count(), AuditCheckpoint.objects.count()) == (0, 0)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tgname, tgenabled FROM pg_trigger WHERE tgname LIKE 'audit_%%_no_truncate' ORDER BY tgname"
        )
        assert cursor.fetchall() == [("audit_checkpoint_no_truncate", "O"), ("audit_entry_no_truncate", "O")]


def test_without_a_signing_key_outside_development_nothing_is_signed(settings, monkeypatch):
    _append(1)
    monkeypatch.delenv("SIGNING_KEY", raising=False)
    settings.SIGNING_KEY, settings.DEVELOPMENT, settings.DEBUG = "", False, False
    with pytest.raises(CommandError, match="not signed: SIGNING_KEY is required outside development"):
        call_command("audit_checkpoint")
    assert AuditCheckpoint.objects.count() == 0
