"""The event types a webhook subscription or the event feed can name (README "Events" has the table).

`data` of every record event is the record's stored fields (`record_snapshot`: concrete fields,
foreign keys as `<name>_id`, geometry as GeoJSON, times ISO 8601) plus `record_type`; the domain
cannot reach the REST serializers, so this is the contract. Extra keys per type are listed here.
"""

EVENT_TYPES: dict[str, str] = {
    "case.item.status_changed": "An approval item moved to another BLZT status (data: item, status, previous).",
    "survey.submitted": "A joint survey was submitted with its conclusion.",
    "survey.signed": "Every department signed a survey; it is locked (data adds content_hash).",
    "finding.created": "A finding (problem found on site) was recorded.",
    "finding.resolved": "A finding was resolved.",
    "utility_request.responded": "A utility company answered a connection request (accept, need_info, reject).",
    "utility_point.connected": "A utility connection point was reported connected.",
    "inspection.results_complete": "Every item of an acceptance inspection has a final result.",
    "inspection.signed": "Every department signed an inspection; it is locked (data adds content_hash).",
    "rectification.verified": "The department verified a rectification.",
    "visit.completed": "A vehicle visit (on-site service) was completed.",
    "record.reopened": "A signed record was reopened (data adds reason).",
}

# The catalogue as (value, label) pairs: the OpenAPI enum `EventTypeEnum`.
EVENT_TYPE_CHOICES = list(EVENT_TYPES.items())

# Not in the catalogue (never stored in the outbox): sent by POST webhooks/{id}/ping only.
PING_TYPE = "webhook.ping"
