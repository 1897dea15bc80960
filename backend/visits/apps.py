from django.apps import AppConfig


class VisitsConfig(AppConfig):
    name = "backend.visits"
    label = "visits"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from backend.records.registry import RecordType, naming_the_record, register_record_type
        from backend.visits.bookings import booking_request_create, booking_request_delete, booking_request_update
        from backend.visits.models import BookingRequest, Visit
        from backend.visits.selectors import booking_requests_visible_to, visits_visible_to
        from backend.visits.services import visit_create, visit_delete, visit_update

        register_record_type(
            RecordType(
                name="visit",
                model=Visit,
                visible_to=visits_visible_to,
                create=visit_create,
                update=visit_update,
                delete=naming_the_record("visit", visit_delete),
                label="直通车上门服务",
                summary=lambda record: f"{record.get_status_display()} {record.scheduled_for:%Y-%m-%d %H:%M}",
            )
        )
        # Case-scoped: on the case's timeline, and in sync for the staff who take calls on tablets.
        register_record_type(
            RecordType(
                name="booking_request",
                model=BookingRequest,
                visible_to=booking_requests_visible_to,
                create=booking_request_create,
                update=booking_request_update,
                delete=booking_request_delete,
                label="直通车预约申请",
                summary=lambda record: f"{record.get_status_display()} {record.get_channel_display()}",
            )
        )
        from backend.visits import events

        events.register()
