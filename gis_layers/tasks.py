"""Background jobs of the map layers (procrastinate; run by `manage.py procrastinate worker`)."""

from procrastinate.contrib.django import app


@app.periodic(cron="* * * * *")
@app.task(name="gis_layers.cells_compact", queueing_lock="gis_layers.cells_compact")
def cells_compact_task(timestamp: int) -> int:
    """Every minute: merge the low-zoom cells' pending deltas (backend.layers.low_zoom)."""
    from backend.layers.low_zoom import cells_compact

    return cells_compact()
