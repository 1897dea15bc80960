"""Background jobs of the events outbox (procrastinate; run by `manage.py procrastinate worker`)."""

from procrastinate.contrib.django import app


@app.task(name="events.relay")
def events_relay_task() -> int:
    """Committed events → deliveries; queued when a change with events commits."""
    from backend.events.services import events_relay

    return events_relay()


@app.task(name="events.deliveries_drain", retry=False)
def deliveries_drain_task(subscription_id: str, case_id: str) -> int:
    """Send one subscription's pending deliveries of one case, in order."""
    from backend.events.services import deliveries_drain

    return deliveries_drain(subscription_id=subscription_id, case_id=case_id)


@app.periodic(cron="* * * * *")
@app.task(name="events.sweep", queueing_lock="events.sweep")
def events_sweep_task(timestamp: int) -> int:
    """Every minute: relay what a lost job left behind, and queue the deliveries that are due
    (after a worker crash, a retry's time)."""
    from backend.events.services import deliveries_sweep, events_relay

    events_relay()
    return deliveries_sweep()
