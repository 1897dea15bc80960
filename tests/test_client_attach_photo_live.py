"""The reference client's `queue TYPE … --attach file.jpg:photo` against a live server: after
`sync` the photo is a photo record of that record (under the id the client chose), not only
uploaded bytes. Before, the file went up and the record turned complete, but no photo existed."""

import hashlib
import json
import uuid

import pytest
from rest_framework.test import APIClient

from backend.accounts.models import OrganizationKind, Role
from backend.accounts.tests.factories import PASSWORD, OrganizationFactory, UserFactory
from backend.cases.tests.factories import ApprovalCaseFactory
from backend.evidence.models import Photo
from backend.evidence.tests.imaging import jpeg_bytes, make_exif
from backend.surveys.models import Survey
from backend.surveys.tests.factories import SurveyFactory
from field_client import SyncClient
from field_client.__main__ import main

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def crew_case():
    case = ApprovalCaseFactory()
    crew = OrganizationFactory(kind=OrganizationKind.SURVEY_CREW)
    case.assigned_organizations.add(crew)
    UserFactory(username="crew1", organization=crew, roles=[Role.SURVEYOR])
    return case


def _cli(capsys, *argv) -> dict:
    assert main(["--quiet", *argv]) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


def _survey(case) -> dict:
    return {
        "case": str(case.pk),
        "scheduled_at": "2026-03-10T09:00:00+08:00",
        "summary": "现场踏勘",
        "location": {"type": "Point", "coordinates": [120.17, 35.96]},
    }


def test_attach_photo_on_the_command_line_makes_a_photo_record(tmp_path, live_server, crew_case, capsys):
    case = crew_case
    photo_file = tmp_path / "现场.jpg"
    data = jpeg_bytes((64, 48), exif=make_exif(lon=120.1711, lat=35.9607))
    photo_file.write_bytes(data)
    database = str(tmp_path / "tablet.sqlite3")
    _cli(capsys, "--db", database, "--server", live_server.url, "login", "crew1", "--password", PASSWORD)

    queued = _cli(
        capsys,
        "--db",
        database,
        "queue",
        "survey",
        "--data",
        json.dumps(_survey(case)),
        "--attach",
        f"{photo_file}:photo",
    )
    sha256 = hashlib.sha256(data).hexdigest()
    assert [(photo["sha256"], uuid.UUID(photo["id"]).version) for photo in queued["photos"]] == [(sha256, 4)]
    synced = _cli(capsys, "--db", database, "sync")

    assert synced["pushed"] == {"applied": 2} and synced["uploaded"] == 1
    survey = Survey.objects.get(pk=queued["id"])
    photo = Photo.objects.get()
    assert (str(photo.pk), photo.record_type, photo.record_id, photo.blob_id, photo.case_id) == (
        queued["photos"][0]["id"],
        "survey",
        survey.pk,
        sha256,
        case.pk,
    )
    assert (photo.location_source, photo.created_by.username) == ("exif", "crew1")
    status = _cli(capsys, "--db", database, "status")
    assert (status["operations"], status["waiting_for_files"], status["files_to_upload"]) == ({"done": 2}, 0, 0)
    # The device finds its photo, under the id it chose, through the API and in its own store.
    api = APIClient()
    api.force_authenticate(photo.created_by)
    assert api.get(f"/api/v1/photos/{photo.pk}/").json()["record_id"] == queued["id"]
    client = SyncClient(database, progress=lambda text: None)
    assert client.store.record("photo", queued["photos"][0]["id"])["data"]["sha256"] == sha256
    assert client.store.record("survey", queued["id"])["complete"] is True
    client.close()


def test_a_push_before_the_upload_holds_the_photo_until_its_file_is_up(tmp_path, live_server, crew_case):
    case = crew_case
    survey = SurveyFactory(case=case)
    photo_file = tmp_path / "p.jpg"
    photo_file.write_bytes(jpeg_bytes(color=(5, 6, 7)))
    client = SyncClient(tmp_path / "t.sqlite3", server=live_server.url, progress=lambda text: None)
    client.login("crew1", PASSWORD)

    # A photo record of an existing survey, queued directly: the client names the file itself.
    photo_id = str(uuid.uuid4())
    client.queue("photo", photo_id, {"record_type": "survey", "record_id": str(survey.pk)}, attachments=[photo_file])

    assert client.push() == {}
    assert (Photo.all_objects.count(), client.status()["waiting_for_files"]) == (0, 1)
    assert client.upload() == 1
    assert client.push() == {"applied": 1}
    photo = Photo.objects.get()
    assert (str(photo.pk), photo.record_id, photo.blob_id) == (
        photo_id,
        survey.pk,
        hashlib.sha256(photo_file.read_bytes()).hexdigest(),
    )
    # Pushing again sends nothing: the photo was made once.
    assert client.push() == {}
    assert Photo.all_objects.count() == 1
    client.close()
