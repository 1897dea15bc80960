from django.apps import AppConfig


class SurveysConfig(AppConfig):
    name = "backend.surveys"
    label = "surveys"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from backend.records.registry import RecordType, register_record_type
        from backend.signatures.signable import register_child_content, register_signable
        from backend.surveys import services
        from backend.surveys.models import Finding, Survey, SurveyParticipant
        from backend.surveys.selectors import findings_visible_to, survey_participants_visible_to, surveys_visible_to
        from backend.surveys.signing import FINDING_CHILD_EXCLUDED, SURVEY_SIGNABLE

        register_record_type(
            RecordType(
                name="survey",
                model=Survey,
                visible_to=surveys_visible_to,
                create=services.survey_create,
                update=services.survey_update,
                delete=services.survey_delete,
                label="联合踏勘",
                summary=lambda survey: f"联合踏勘 {survey.scheduled_at:%Y-%m-%d}（{survey.get_status_display()}）",
            )
        )
        register_record_type(
            RecordType(
                name="survey_participant",
                model=SurveyParticipant,
                visible_to=survey_participants_visible_to,
                create=services.survey_participant_create,
                update=services.survey_participant_update,
                delete=services.survey_participant_delete,
                label="踏勘参加单位",
                summary=lambda participant: f"{participant.department.name}：{participant.opinion or '未提交意见'}",
            )
        )
        register_record_type(
            RecordType(
                name="finding",
                model=Finding,
                visible_to=findings_visible_to,
                create=services.finding_create,
                update=services.finding_update,
                delete=services.finding_delete,
                label="问题清单",
                summary=lambda finding: f"{finding.description[:40]}（{finding.get_status_display()}）",
            )
        )
        register_signable("survey", SURVEY_SIGNABLE)
        register_child_content("finding", excluded_fields=FINDING_CHILD_EXCLUDED)
