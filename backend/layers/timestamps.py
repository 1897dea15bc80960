"""Timestamps spelt in SQL exactly as the REST API renders them, for the answers PostgreSQL builds
itself (map layers, OGC items, nearby points)."""

import datetime as dt

from django.utils import timezone


def _offset_text(offset: dt.timedelta) -> str:
    """An offset as DRF (datetime.isoformat) writes it: `Z` for UTC, else ±HH:MM[:SS]."""
    if not offset:
        return "Z"
    sign, size = ("-", -offset) if offset < dt.timedelta(0) else ("+", offset)
    minutes, seconds = divmod(int(size.total_seconds()), 60)
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}" + (f":{seconds:02d}" if seconds else "")


def iso8601_sql(column: str) -> str:
    """`column` (timestamptz) as DRF's DateTimeField renders it in the current time zone:
    `2026-03-01T16:00:00+08:00`, microseconds only when non-zero, `Z` for UTC. Spelt out with
    to_char because PostgreSQL's own JSON of a timestamptz uses the session's zone (UTC here)
    and trims trailing zeros of the fraction. One to_char per value, and the zone's offset of
    today as a constant when the value's offset is that one (the general spelling otherwise, for
    other seasons or history): a tile or page formats thousands of these."""
    current = timezone.get_current_timezone()
    zone = "'" + timezone.get_current_timezone_name().replace("'", "''") + "'"
    local = f"({column} AT TIME ZONE {zone})"
    offset = f"({local} - ({column} AT TIME ZONE 'UTC'))"
    size = f"(CASE WHEN {offset} < interval '0' THEN -{offset} ELSE {offset} END)"
    general = (
        f"CASE WHEN {offset} = interval '0' THEN 'Z' ELSE "
        f"CASE WHEN {offset} < interval '0' THEN '-' ELSE '+' END || to_char({size}, 'HH24:MI') "
        f"|| CASE WHEN extract(second FROM {offset}) = 0 THEN '' ELSE to_char({size}, ':SS') END END"
    )
    now = timezone.now().astimezone(current).utcoffset() or dt.timedelta(0)
    seconds = int(now.total_seconds())
    return (
        # The date has no '.', so '.000000' can only be a zero fraction.
        f"(replace(to_char({local}, 'YYYY-MM-DD\"T\"HH24:MI:SS.US'), '.000000', '') "
        f"|| CASE WHEN {offset} = interval '{seconds} seconds' THEN '{_offset_text(now)}' ELSE {general} END)"
    )
