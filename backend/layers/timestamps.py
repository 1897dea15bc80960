"""Timestamps spelt in SQL exactly as the REST API renders them, for the answers PostgreSQL builds
itself (map layers, OGC items, nearby points)."""

import datetime as dt
import threading

from django.utils import timezone

# How far around today the steady period of a zone's offset is looked for (see _steady_period).
_STEADY_BACK = dt.timedelta(days=366 * 20)
_STEADY_AHEAD = dt.timedelta(days=366 * 2)
_steady: dict[str, tuple[dt.datetime, dt.datetime]] = {}
_steady_lock = threading.Lock()


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
    moment = timezone.now()
    now = moment.astimezone(current).utcoffset() or dt.timedelta(0)
    start, end = _steady_period(current, timezone.get_current_timezone_name(), moment)
    return (
        # The date has no '.', so '.000000' can only be a zero fraction.
        f"(replace(to_char({local}, 'YYYY-MM-DD\"T\"HH24:MI:SS.US'), '.000000', '') "
        # Within the zone's steady period around today, its offset is today's: two comparisons
        # with constants instead of converting the value into two zones (a fifth of a z14 tile).
        f"|| CASE WHEN {column} >= timestamptz '{start.isoformat()}' AND {column} < timestamptz '{end.isoformat()}' "
        f"THEN '{_offset_text(now)}' ELSE {general} END)"
    )


def _steady_period(zone: dt.tzinfo, name: str, moment: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """[start, end) in UTC around `moment` over which `zone`'s offset is the one at `moment`:
    from its last transition before (at most _STEADY_BACK before) to its next after (at most
    _STEADY_AHEAD after), to the second (tz transitions fall on whole seconds). Cached per zone
    while `moment` stays inside."""
    with _steady_lock:
        found = _steady.get(name)
    if found is not None and found[0] <= moment < found[1]:
        return found
    offset = moment.astimezone(zone).utcoffset()
    anchor = moment.astimezone(dt.UTC).replace(microsecond=0)

    def same(seconds: int) -> bool:
        return (anchor + dt.timedelta(seconds=seconds)).astimezone(zone).utcoffset() == offset

    def edge(step: int, limit: dt.timedelta) -> int:
        """Seconds from the anchor to the last second of the period in the direction of `step`."""
        inside, days, most = 0, 0, int(limit.total_seconds()) // 86400
        while days < most and same(step * (days + 1) * 86400):
            days += 1
        inside = step * days * 86400
        if days == most:
            return inside
        outside = step * (days + 1) * 86400
        while abs(outside - inside) > 1:  # bisect the day in which the offset changes
            middle = (inside + outside) // 2
            inside, outside = (middle, outside) if same(middle) else (inside, middle)
        return inside

    start = anchor + dt.timedelta(seconds=edge(-1, _STEADY_BACK))
    end = anchor + dt.timedelta(seconds=edge(1, _STEADY_AHEAD) + 1)
    with _steady_lock:
        _steady[name] = (start, end)
    return start, end
