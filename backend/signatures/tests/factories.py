"""Signed-record fixtures for signature tests: a submitted survey, a resulted inspection, PNGs."""

import io

from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image, ImageDraw

from backend.acceptance.models import Inspection, InspectionItem, InspectionResult
from backend.acceptance.services import inspection_item_record_result
from backend.acceptance.tests.factories import make_inspection
from backend.accounts.models import Organization, OrganizationKind, Role, User
from backend.accounts.tests.factories import OrganizationFactory, UserFactory
from backend.cases.models import ApprovalCase
from backend.cases.tests.factories import ApprovalCaseFactory
from backend.signatures.models import Signature
from backend.signatures.services import signature_create
from backend.surveys.models import Survey, SurveyStatus
from backend.surveys.tests.factories import SurveyFactory, SurveyParticipantFactory


def signature_png(seed: int = 0, size=(120, 40)) -> bytes:
    """A small handwritten-looking PNG; `seed` changes the strokes (and so the hash)."""
    image = Image.new("RGBA", size, (255, 255, 255, 0))
    draw = ImageDraw.Draw(image)
    draw.line([(5, 30), (30 + seed % 50, 8), (60, 32), (110, 5 + seed % 30)], fill=(0, 0, 0, 255), width=3)
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def png_file(seed: int = 0, name: str = "signature.png") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, signature_png(seed), content_type="image/png")


def official_of(organization: Organization) -> User:
    return UserFactory(organization=organization, roles=[Role.OFFICIAL])


def submitted_survey(
    *, case: ApprovalCase | None = None, attending: int = 2, absent: int = 1
) -> tuple[Survey, list[Organization], list[Organization]]:
    """A submitted survey with `attending` departments that attended and gave opinions and
    `absent` waived ones. Returns (survey, attending departments, absent departments)."""
    case = case or ApprovalCaseFactory()
    survey = SurveyFactory(case=case, status=SurveyStatus.SUBMITTED, conclusion="agree", minutes="纪要：同意选址。")
    present, away = [], []
    for number in range(attending):
        department = OrganizationFactory(kind=OrganizationKind.APPROVAL_DEPARTMENT)
        SurveyParticipantFactory(survey=survey, department=department, attended=True, opinion=f"同意{number}")
        present.append(department)
    for _number in range(absent):
        department = OrganizationFactory(kind=OrganizationKind.APPROVAL_DEPARTMENT)
        SurveyParticipantFactory(survey=survey, department=department, is_waived=True, waived_reason="免于到场")
        away.append(department)
    return survey, present, away


def resulted_inspection(*, stage: int = 2, case: ApprovalCase | None = None) -> tuple[Inspection, list[Organization]]:
    """An inspection whose every item passed (results complete). Returns (inspection, departments)."""
    inspection, departments = make_inspection(stage=stage, case=case)
    for item in InspectionItem.objects.filter(inspection=inspection):
        inspection_item_record_result(item=item, result=InspectionResult.PASS, by=None, remarks="符合要求")
    return Inspection.objects.get(pk=inspection.pk), list(departments.values())


def sign(record_type: str, record, user: User, *, seed: int = 0, **kwargs) -> Signature:
    signature, _created = signature_create(
        by=user, record_type=record_type, target_id=record.pk, image=png_file(seed), **kwargs
    )
    return signature
