"""The joint acceptance opinion PDF: extractable Chinese text (project, items, results,
rectifications, signatures, hash, verification URL), photo thumbnails, scoping; the public
verification page behind its QR code; the route does not clash with the inspections router."""

import datetime as dt
import io
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import resolve
from pypdf import PdfReader
from rest_framework.test import APIClient

from backend.acceptance.models import Inspection, InspectionItem, InspectionResult
from backend.acceptance.services import inspection_item_record_result, rectification_create
from backend.acceptance.tests.factories import department_user, make_inspection
from backend.accounts.models import OrganizationKind, Role
from backend.accounts.tests.factories import OrganizationFactory, UserFactory
from backend.evidence.photos import photo_create, photo_make_derivatives
from backend.evidence.tests.imaging import jpeg_bytes
from backend.signatures.content import record_content_hash
from backend.signatures.tests.factories import resulted_inspection, sign
from mobile_api.signatures.views import InspectionReportView

pytestmark = pytest.mark.django_db


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def _text(response) -> str:
    assert (response.status_code, response["Content-Type"]) == (200, "application/pdf")
    reader = PdfReader(io.BytesIO(response.content))
    return "\n".join(page.extract_text() for page in reader.pages)


def _administrator():
    return UserFactory(organization=None, roles=[Role.ADMINISTRATOR])


def test_report_route_is_not_swallowed_by_the_inspections_router():
    match = resolve("/api/v1/inspections/0b6f6f7e-2a4a-4a57-9d0a-54d3b8f0c001/report.pdf")
    assert match.func.view_class is InspectionReportView
    assert resolve("/api/v1/inspections/0b6f6f7e-2a4a-4a57-9d0a-54d3b8f0c001/").url_name == "inspection-detail"


def test_pdf_shows_project_items_with_each_result_and_rectifications():
    inspection, departments = make_inspection(stage=1)
    items = list(InspectionItem.objects.filter(inspection=inspection).order_by("code"))
    inspection_item_record_result(item=items[0], result=InspectionResult.PASS, by=None)
    inspection_item_record_result(item=items[1], result=InspectionResult.FILED, by=None)
    failed = inspection_item_record_result(item=items[2], result=InspectionResult.FAIL, by=None)
    rectification_create(
        inspection_item=failed, description="消防通道宽度不足，需拓宽至4米", due_date=dt.date(2026, 6, 30), by=None
    )
    text = _text(client_for(_administrator()).get(f"/api/v1/inspections/{inspection.pk}/report.pdf"))
    project = inspection.case.project
    compact = re.sub(r"\s+", "", text)
    for expected in (
        "联合验收意见书",
        project.name,
        project.code,
        inspection.case.external_no,
        "通过",
        "备案",
        "不通过",
        "待定",
        "消防通道宽度不足，需拓宽至4米",
        "2026-06-30",
        "草稿",
        *[item.name for item in items],
        *[department.name for department in departments.values()],
    ):
        assert expected in compact, expected
    assert record_content_hash(record_type="inspection", record=inspection) in compact


def test_signed_pdf_has_signatures_images_hash_and_verification_url(settings):
    inspection, departments = resulted_inspection(stage=2)
    photo, _ = photo_create(
        by=None,
        record_type="inspection",
        target_id=inspection.pk,
        file=SimpleUploadedFile("site.jpg", jpeg_bytes(size=(200, 150)), content_type="image/jpeg"),
    )
    photo_make_derivatives(photo=photo)
    signatures = [
        sign("inspection", inspection, department_user(department), seed=number)
        for number, department in enumerate(departments)
    ]
    inspection.refresh_from_db()
    assert inspection.status == "signed"
    response = client_for(department_user(departments[0])).get(f"/api/v1/inspections/{inspection.pk}/report.pdf")
    text = _text(response)
    compact = re.sub(r"\s+", "", text)
    content_hash = signatures[0].content_hash
    assert content_hash in compact
    assert f"/verify/inspection/{inspection.pk}/{content_hash}/" in compact
    assert "草稿" not in compact
    for signature in signatures:
        assert signature.signer_name in compact
    assert compact.count("通过") == 3
    reader = PdfReader(io.BytesIO(response.content))
    # The photo thumbnail, three signature images and the QR code.
    assert sum(len(page.images) for page in reader.pages) == 5


def test_pdf_tolerates_a_photo_without_thumbnail():
    inspection, _departments = resulted_inspection(stage=2)
    photo_create(
        by=None,
        record_type="inspection",
        target_id=inspection.pk,
        file=SimpleUploadedFile("site.jpg", jpeg_bytes(), content_type="image/jpeg"),
    )
    response = client_for(_administrator()).get(f"/api/v1/inspections/{inspection.pk}/report.pdf")
    assert inspection.case.project.name in re.sub(r"\s+", "", _text(response))


def test_pdf_of_an_invisible_inspection_is_404():
    inspection, _departments = resulted_inspection(stage=2)
    utility = UserFactory(organization=OrganizationFactory(kind=OrganizationKind.UTILITY_COMPANY))
    response = client_for(utility).get(f"/api/v1/inspections/{inspection.pk}/report.pdf")
    assert (response.status_code, response.json()["code"]) == (404, "not_found")
    assert APIClient().get(f"/api/v1/inspections/{inspection.pk}/report.pdf").status_code == 401


@pytest.mark.urls("mobile_api.signatures.tests.urls")
def test_public_verify_page_says_valid_then_invalid_after_a_change():
    inspection, departments = resulted_inspection(stage=2)
    for number, department in enumerate(departments):
        sign("inspection", inspection, department_user(department), seed=number)
    content_hash = record_content_hash(record_type="inspection", record=inspection)
    url = f"/verify/inspection/{inspection.pk}/{content_hash}/"
    anonymous = APIClient()

    page = anonymous.get(url)
    html = page.content.decode()
    assert page.status_code == 200
    assert "<strong>有效</strong>" in html and inspection.case.project.name in html

    InspectionItem.objects.filter(inspection=inspection).update(remarks="签署后被改")
    html = anonymous.get(url).content.decode()
    assert "<strong>已失效</strong>" in html and "已被修改" in html


@pytest.mark.urls("mobile_api.signatures.tests.urls")
def test_public_verify_page_after_reopen_and_for_unknown_documents():
    from backend.acceptance.services import inspection_reopen
    from backend.signatures.services import signatures_void_for_record

    inspection, departments = resulted_inspection(stage=2)
    for number, department in enumerate(departments):
        sign("inspection", inspection, department_user(department), seed=number)
    content_hash = record_content_hash(record_type="inspection", record=inspection)
    inspection_reopen(
        inspection=Inspection.objects.get(pk=inspection.pk),
        by=None,
        reason="重新验收",
        on_reopen=lambda record: signatures_void_for_record(record=record, reason="reopened"),
    )
    html = APIClient().get(f"/verify/inspection/{inspection.pk}/{content_hash}/").content.decode()
    assert "<strong>已失效</strong>" in html and "已作废" in html
    unknown = APIClient().get(f"/verify/inspection/{inspection.pk}/{'0' * 64}/").content.decode()
    assert "<strong>已失效</strong>" in unknown
    bogus = APIClient().get(f"/verify/nothing/{inspection.pk}/{'0' * 64}/")
    assert bogus.status_code == 200 and "<strong>已失效</strong>" in bogus.content.decode()
    assert inspection.case.project.name not in bogus.content.decode()
