"""Webhook jobs (procrastinate; run by `manage.py procrastinate worker`)."""

from procrastinate.contrib.django import app


@app.task(name="events.webhook_deliver")
def webhook_deliver_task(delivery_id: str) -> str:
    """First attempt of a delivery, queued when its event commits (retries come from the sweep)."""
    from backend.events.delivery import deliveries_deliver_case_after, delivery_attempt
    from backend.events.selectors import deliveries_due

    # A later event of a case waits for the earlier one; the success of that one sends it.
    if not deliveries_due().filter(pk=delivery_id).exists():
        return "not due"
    delivery = delivery_attempt(delivery_id=delivery_id)
    if delivery is None:
        return "busy"
    deliveries_deliver_case_after(delivery)
    return delivery.status


@app.periodic(cron="* * * * *")
@app.task(name="events.webhooks_deliver_due", queueing_lock="events.webhooks_deliver_due")
def webhooks_deliver_due_task(timestamp: int) -> int:
    """Every minute: retries that came due, and any first attempt whose job was lost."""
    from backend.events.delivery import deliveries_deliver_due

    return deliveries_deliver_due()
