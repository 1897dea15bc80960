"""What the approval system hears of vehicle bookings (registered in VisitsConfig.ready)."""

from backend.events.catalogue import EventType, action_is, register_event_types, status_became


def register() -> None:
    register_event_types(
        EventType(
            name="booking_request.filed",
            label="直通车预约申请",
            description="A builder (or staff on its behalf) asked for the approval-service vehicle.",
            record_type="booking_request",
            when=action_is("create"),
        ),
        EventType(
            name="booking_request.confirmed",
            label="直通车预约已确认",
            description="Staff confirmed a booking request; `visit` names the visit booked.",
            record_type="booking_request",
            when=status_became("confirmed"),
        ),
        EventType(
            name="booking_request.declined",
            label="直通车预约未能安排",
            description="Staff declined a booking request, with the reason.",
            record_type="booking_request",
            when=status_became("declined"),
        ),
    )
