"""Demo signatures: the submitted land-use survey signed by each department that attended (and
the builder's representative, who attended too), so it shows as signed and locked.

The people sign on the coordinating official's tablet in the demo story; seeded as the system
(`by=None`), each as a named signer for their department. Idempotent by fixed ids; without the
survey (or when it is not submitted any more) it does nothing.
"""

import datetime as dt
import io
import uuid

from django.core.files.uploadedfile import SimpleUploadedFile
from django.db.models import Q
from PIL import Image, ImageDraw

from backend.signatures.models import Signature
from backend.signatures.services import signature_create
from backend.surveys.models import Survey, SurveyParticipant, SurveyStatus

SHANGHAI = dt.timezone(dt.timedelta(hours=8))
NAMESPACE = uuid.UUID("6a1f7d9e-3c0b-4f4e-9a51-2f7c5b1e8d40")  # the surveys demo's namespace
SURVEY_ID = uuid.uuid5(NAMESPACE, "survey-land-use")


def _png(seed: int) -> bytes:
    """A pen-stroke-like PNG, different per signer."""
    image = Image.new("RGBA", (240, 80), (255, 255, 255, 0))
    draw = ImageDraw.Draw(image)
    points = [(10 + index * 22, 40 + ((index * 37 + seed * 11) % 50) - 25) for index in range(11)]
    draw.line(points, fill=(20, 20, 60, 255), width=4, joint="curve")
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def seed() -> None:
    survey = Survey.objects.filter(pk=SURVEY_ID).first()
    if survey is None or survey.status not in (SurveyStatus.SUBMITTED, SurveyStatus.SIGNED):
        return
    participants = (
        SurveyParticipant.objects.filter(survey=survey, attended=True)
        .filter(~Q(person_name=""))
        .select_related("department")
        .order_by("arrived_at", "id")
    )
    for number, participant in enumerate(participants):
        signature_id = uuid.uuid5(NAMESPACE, f"signature-land-use-{participant.department.name}")
        if Signature.all_objects.filter(pk=signature_id).exists():
            continue
        if Signature.objects.filter(record_id=survey.pk, department=participant.department, status="valid").exists():
            continue
        signature_create(
            by=None,
            record_id=signature_id,
            record_type="survey",
            target_id=survey.pk,
            image=SimpleUploadedFile("signature.png", _png(number), content_type="image/png"),
            department=participant.department,
            signer_name=participant.person_name,
            signer_role="建设单位代表" if participant.department.kind == "builder" else "部门代表",
            device_signed_at=dt.datetime(2026, 4, 8, 11, 35 + number, tzinfo=SHANGHAI),
        )
