"""Background jobs of the map layers (procrastinate; run by `manage.py procrastinate worker`)."""

from procrastinate.contrib.django import app


# Every 10 seconds (croniter's sixth field): the pending points a low-zoom tile reads one by one
# are at most ~10 s of writes (about 20k at the 2,000 sync operations a second of issue 10), and a
# compaction with nothing pending is one empty DELETE.
@app.periodic(cron="* * * * * */10")
@app.task(name="gis_layers.cells_compact", queueing_lock="gis_layers.cells_compact")
def cells_compact_task(timestamp: int) -> int:
    """Expand the low-zoom cells' pending points into cells (backend.layers.low_zoom)."""
    from backend.layers.low_zoom import cells_compact

    return cells_compact()
