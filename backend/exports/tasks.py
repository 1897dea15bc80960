"""Background jobs (procrastinate; run by `manage.py procrastinate worker`)."""

from procrastinate.contrib.django import app


@app.task(name="exports.export_run")
def export_run_task(export_id: str) -> str:
    """Write one export's file, queued when the export request commits."""
    from backend.exports.services import export_run

    return export_run(export_id=export_id)


@app.task(name="exports.import_read")
def import_read_task(import_id: str) -> str:
    """Read one uploaded red-line file into its preview."""
    from backend.exports.imports import import_read

    return import_read(import_id=import_id)


@app.periodic(cron="17 * * * *")
@app.task(name="exports.expire", queueing_lock="exports.expire")
def exports_expire_task(timestamp: int) -> int:
    """Same as `manage.py exports_expire`: drop expired export files and import uploads hourly."""
    from backend.exports.imports import imports_expire
    from backend.exports.services import exports_expire

    return exports_expire() + imports_expire()
