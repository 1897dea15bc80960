"""Background jobs (procrastinate; run by `manage.py procrastinate worker`)."""

from procrastinate.contrib.django import app

from backend.audit.checkpoints import audit_checkpoint_create


@app.periodic(cron="*/10 * * * *")
@app.task(name="audit.checkpoint", queueing_lock="audit.checkpoint")
def audit_checkpoint_task(timestamp: int) -> int | None:
    """Same as `manage.py audit_checkpoint`: sign the chain's head every 10 minutes.

    A chain that does not verify raises (the job fails and is logged) and nothing is signed.
    """
    checkpoint = audit_checkpoint_create()
    return checkpoint.sequence if checkpoint is not None else None
