from django.apps import AppConfig


class SignaturesConfig(AppConfig):
    name = "backend.signatures"
    label = "signatures"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from backend.records.registry import REOPEN_LISTENERS, RecordType, register_record_type
        from backend.signatures.models import Signature
        from backend.signatures.selectors import signatures_visible_to
        from backend.signatures.services import (
            signature_create,
            signature_delete,
            signature_update,
            signatures_void_on_reopen,
        )

        if signatures_void_on_reopen not in REOPEN_LISTENERS:
            REOPEN_LISTENERS.append(signatures_void_on_reopen)

        register_record_type(
            RecordType(
                name="signature",
                model=Signature,
                visible_to=signatures_visible_to,
                create=signature_create,
                update=signature_update,
                delete=signature_delete,
                label="签名",
                summary=lambda signature: (
                    f"{signature.signer_name}（{signature.signer_organization_name}）签名"
                    f"（{signature.get_status_display()}）"
                ),
            )
        )
