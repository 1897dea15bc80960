from django.apps import AppConfig


class UtilitiesConfig(AppConfig):
    name = "backend.utilities"
    label = "utilities"
    default_auto_field = "django.db.models.BigAutoField"
    verbose_name = "水电气暖信联合报装"

    def ready(self) -> None:
        from backend.records.registry import RecordType, register_record_type
        from backend.utilities import selectors, services
        from backend.utilities.models import UtilityApplication, UtilityPoint, UtilityRequest

        register_record_type(
            RecordType(
                name="utility_application",
                model=UtilityApplication,
                visible_to=selectors.utility_applications_visible_to,
                create=services.utility_application_create,
                update=None,
                delete=None,
                # Not changed after creation (its requests are), and not a sync type.
                is_synced=False,
                label="联合报装申请",
                summary=lambda record: f"联合报装申请 {record.applicant_name}".strip(),
            )
        )
        register_record_type(
            RecordType(
                name="utility_request",
                model=UtilityRequest,
                visible_to=selectors.utility_requests_visible_to,
                create=services.utility_request_create,
                update=services.utility_request_update,
                delete=services.utility_request_delete,
                label="报装请求",
                summary=lambda record: f"{record.get_utility_type_display()}报装：{record.get_status_display()}",
            )
        )
        register_record_type(
            RecordType(
                name="utility_point",
                model=UtilityPoint,
                visible_to=selectors.utility_points_visible_to,
                create=services.utility_point_create,
                update=services.utility_point_update,
                delete=services.utility_point_delete,
                label="接入点",
                summary=lambda record: (
                    f"{record.get_utility_type_display()}接入点 {record.name}".strip()
                    + f"：{record.get_status_display()}"
                ),
            )
        )
