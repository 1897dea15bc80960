"""Pull pages built in SQL answer exactly what the REST serializers answer.

For every sync type, over the demo world (plus a material scan pushed by a device, and a record of
each kind deleted through sync), the change each record type's SQL expression builds equals its
serializer's output as JSON values, for every demo user's scoping; deleted records come as the
same tombstones; the byte budget counts exactly the bytes of the changes' JSON.
"""

import json
import uuid
from collections.abc import Iterator

import pytest
from django.core.management import call_command
from django.db import transaction
from django.test import override_settings
from rest_framework.request import Request
from rest_framework.test import APIClient, APIRequestFactory

from backend.accounts.models import User
from backend.common.errors import ApplicationError
from backend.demo.accounts import DEMO_USERS
from mobile_api.sync.pull import pull, pull_page, render_changes, sql_rendered_types
from mobile_api.sync.push import jsonable, tombstone_data
from mobile_api.sync.registry import including_tombstones, sync_types
from mobile_api.sync.tests.factories import case_with_item, push, scan_op, vehicle_user_on

pytestmark = pytest.mark.django_db

# Types whose serializer has a field with no SQL translation (a method field, a property, a
# custom representation): their changes are rendered by the serializer, as before.
RENDERED_BY_SERIALIZER: set[str] = set()


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker) -> Iterator[dict]:
    """The demo data, a scan pushed by a device and one scan deleted by it; rolled back after."""
    with django_db_blocker.unblock():
        atomic = transaction.atomic()
        atomic.__enter__()
        try:
            call_command("seed_demo", verbosity=0)
            _case, item, _material = case_with_item()
            device = vehicle_user_on(item.case)
            client = APIClient()
            client.force_authenticate(device)
            kept, gone = uuid.uuid4(), uuid.uuid4()
            created = push(client, scan_op(item=item, record_id=kept), scan_op(item=item, record_id=gone))
            assert [r["status"] for r in created.json()["receipts"]] == ["applied", "applied"]
            deleted = push(client, scan_op(item=item, record_id=gone, base_version=1, action="delete", data={}))
            assert deleted.json()["receipts"][0]["status"] == "applied", deleted.json()
            deleted_types = _delete_one_of_each_type()
            yield {"device": device, "deleted_types": deleted_types}
        finally:
            transaction.set_rollback(True)
            atomic.__exit__(None, None, None)


def _delete_one_of_each_type() -> set[str]:
    """One record of each type its delete service lets the administrator delete: tombstones."""
    admin = User.objects.get(username="admin")
    deleted = set()
    for name, sync_type in sync_types().items():
        delete = sync_type.record_type.delete
        if delete is None:
            continue
        for record in sync_type.model.objects.order_by("pk")[:5]:
            try:
                with transaction.atomic():
                    delete(instance=record, by=admin, device_id="test", expected_version=None)
            except ApplicationError:
                continue
            deleted.add(name)
            break
    return deleted


def _request(user: User) -> Request:
    request = Request(APIRequestFactory().get("/api/v1/sync/pull"))
    request.user = user
    return request


def _users(world: dict) -> list[User]:
    return [*User.objects.filter(username__in=[row[0] for row in DEMO_USERS]).order_by("username"), world["device"]]


def test_every_type_is_built_in_sql_but_the_named_ones(world):
    request = _request(User.objects.get(username="admin"))
    rendered = sql_rendered_types(request)
    assert set(rendered) == set(sync_types())
    assert {name for name, reason in rendered.items() if reason is not None} == RENDERED_BY_SERIALIZER


def test_the_change_built_in_sql_equals_the_serializers_for_every_type_and_user(world):
    compared: dict[str, int] = dict.fromkeys(sync_types(), 0)
    for user in _users(world):
        request = _request(user)
        for name, sync_type in sync_types().items():
            view = sync_type.view(request, "list")
            every_id = list(sync_type.model.all_objects.values_list("pk", flat=True))
            rendered = render_changes(request=request, sync_type=sync_type, ids=every_id)
            records = list(including_tombstones(view.get_queryset()))
            assert set(rendered) == {str(record.pk) for record in records}, (user.username, name)
            live = [record for record in records if record.deleted_at is None]
            expected = {item["id"]: item for item in jsonable(view.get_serializer(live, many=True).data)}
            for record in records:
                text = rendered[str(record.pk)]
                change = json.loads(text)
                assert list(change) == ["type", "id", "version", "deleted", "data", "complete", "missing_attachments"]
                assert (change["type"], change["id"]) == (name, str(record.pk))
                if record.deleted_at is None:
                    assert change["deleted"] is False
                    assert change["data"] == expected[str(record.pk)], (user.username, name)
                    # Byte for byte: the serializer's keys in its order, written as json.dumps writes them.
                    assert text == json.dumps({**change, "data": expected[str(record.pk)]}, ensure_ascii=False), (
                        user.username,
                        name,
                    )
                else:
                    assert change["deleted"] is True
                    assert change["data"] == tombstone_data(record), (user.username, name)
                assert change["version"] == record.version
                # The text is the JSON the byte budget counts, written as json.dumps writes it.
                assert text == json.dumps(change, ensure_ascii=False), (user.username, name)
                compared[name] += 1
    assert not [name for name, count in compared.items() if count == 0], compared
    # Tombstones of types built in SQL were compared too.
    assert world["deleted_types"] - RENDERED_BY_SERIALIZER, world["deleted_types"]


def test_the_page_is_sent_as_assembled_and_reads_as_its_values(world):
    """The view sends the page's JSON as pull_page assembled it; it reads as the page's values."""
    admin = User.objects.get(username="admin")
    request = _request(admin)
    page = pull_page(request=request, cursor=(0, 0), limit=7, types=sorted(sync_types()))
    body = json.loads(page.body)
    assert list(body) == ["changes", "cursor", "has_more"]
    assert len(body["changes"]) == page.count == 7
    assert (body["cursor"], body["has_more"]) == (page.cursor, page.has_more) and page.has_more is True
    client = APIClient()
    client.force_authenticate(admin)
    response = client.get("/api/v1/sync/pull", {"limit": 7})
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.content == page.body


def test_the_page_stops_before_the_change_that_passes_the_byte_budget(world):
    request = _request(User.objects.get(username="admin"))
    whole = pull(request=request, cursor=(0, 0), limit=1000, types=sorted(sync_types()))
    assert whole["has_more"] is False
    sizes = [len(json.dumps(change, ensure_ascii=False).encode()) for change in whole["changes"]]
    budget = sum(sizes[:5]) + sizes[5] // 2
    walked = []
    cursor = (0, 0)
    with override_settings(SYNC_PULL_MAX_BYTES=budget):
        for _page in range(len(sizes) + 1):
            page = pull(request=request, cursor=cursor, limit=1000, types=sorted(sync_types()))
            page_sizes = [len(json.dumps(change, ensure_ascii=False).encode()) for change in page["changes"]]
            assert len(page_sizes) == 1 or sum(page_sizes) <= budget
            walked.extend(page["changes"])
            txid, _, entry_id = page["cursor"].partition(".")
            cursor = (int(txid), int(entry_id)) if entry_id else (0, int(txid))
            if not page["has_more"]:
                break
    assert len(walked[:5]) == 5 and walked[:5] == whole["changes"][:5]
    assert {(c["type"], c["id"]) for c in walked} == {(c["type"], c["id"]) for c in whole["changes"]}


def test_the_render_leaves_the_sessions_time_zone_as_it_was(world):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('TimeZone')")
        (before,) = cursor.fetchone()
        page = pull(request=_request(User.objects.get(username="admin")), cursor=(0, 0), limit=50, types=["survey"])
        assert page["changes"]
        cursor.execute("SELECT current_setting('TimeZone')")
        assert cursor.fetchone() == (before,)


def test_fields_declared_in_sql_agree_with_their_python_on_blank_text(world):
    """survey_participant's is_complete in SQL sees blank text as str.strip() does (an ideographic
    space, a newline), and inspection's results_complete follows the status."""
    from backend.acceptance.models import Inspection, InspectionStatus
    from backend.surveys.models import SurveyParticipant

    admin = User.objects.get(username="admin")
    request = _request(admin)
    combos = [
        {"is_waived": True, "waived_reason": "\u3000", "attended": True, "opinion": "同意"},
        {"is_waived": True, "waived_reason": "因故缺席", "attended": False, "opinion": ""},
        {"is_waived": False, "waived_reason": " \n", "attended": True, "opinion": "同意"},
        {"is_waived": False, "waived_reason": "", "attended": True, "opinion": "\u3000\t"},
        {"is_waived": False, "waived_reason": "", "attended": False, "opinion": " 同意 "},
    ]
    participants = list(SurveyParticipant.objects.order_by("pk")[: len(combos)])
    assert len(participants) == len(combos)
    for participant, values in zip(participants, combos, strict=True):
        SurveyParticipant.objects.filter(pk=participant.pk).update(**values)
    inspections = list(Inspection.objects.order_by("pk")[:2])
    Inspection.objects.filter(pk=inspections[0].pk).update(status=InspectionStatus.SIGNED)
    Inspection.objects.filter(pk=inspections[-1].pk).update(status=InspectionStatus.SCHEDULED)
    for name, records in (("survey_participant", participants), ("inspection", inspections)):
        sync_type = sync_types()[name]
        view = sync_type.view(request, "list")
        live = list(view.get_queryset().filter(pk__in=[r.pk for r in records]))
        expected = {item["id"]: item for item in jsonable(view.get_serializer(live, many=True).data)}
        rendered = render_changes(request=request, sync_type=sync_type, ids=[r.pk for r in records])
        assert {pk: json.loads(text)["data"] for pk, text in rendered.items()} == expected, name
        if name == "survey_participant":
            completes = [expected[str(r.pk)]["is_complete"] for r in records]
            assert completes == [False, True, True, False, False]


def _sql_and_serializer_data(request: Request, name: str, ids: list) -> tuple[dict, dict]:
    """id → the data built in SQL, id → the serializer's; the SQL's text byte for byte json.dumps'."""
    sync_type = sync_types()[name]
    view = sync_type.view(request, "list")
    live = list(view.get_queryset().filter(pk__in=ids))
    expected = {item["id"]: item for item in jsonable(view.get_serializer(live, many=True).data)}
    rendered = render_changes(request=request, sync_type=sync_type, ids=ids)
    data = {}
    for pk, text in rendered.items():
        change = json.loads(text)
        assert text == json.dumps({**change, "data": expected[pk]}, ensure_ascii=False), name
        data[pk] = change["data"]
    assert len(data) == len(ids)
    return data, expected


def test_a_scans_completeness_is_the_serializers_missing_file_or_not(world):
    from backend.cases.materials import MaterialScan
    from backend.sync.models import SyncAttachment

    item = MaterialScan.all_objects.first().item
    client = APIClient()
    client.force_authenticate(world["device"])
    record_id = uuid.uuid4()
    assert push(client, scan_op(item=item, record_id=record_id)).json()["receipts"][0]["status"] == "applied"
    request = _request(world["device"])
    assert SyncAttachment.objects.filter(record_type="material_scan", record_id=record_id).exists()
    rendered, expected = _sql_and_serializer_data(request, "material_scan", [record_id])
    assert rendered == expected and rendered[str(record_id)]["complete"] is False
    SyncAttachment.objects.filter(record_type="material_scan", record_id=record_id).delete()
    rendered, expected = _sql_and_serializer_data(request, "material_scan", [record_id])
    assert rendered == expected and rendered[str(record_id)]["complete"] is True


def test_photo_urls_and_a_decisions_certificate_in_every_shape(world):
    """A photo without its thumbnail and preview (not made yet), with location warnings; a
    decision with and without its certificate: the same data as the serializers'."""
    from backend.evidence.models import Photo
    from backend.onsite.models import Certificate, OnsiteDecision

    request = _request(User.objects.get(username="admin"))
    photos = list(Photo.objects.filter(thumbnail__isnull=False).order_by("pk").values_list("pk", flat=True)[:2])
    assert len(photos) == 2
    Photo.objects.filter(pk=photos[0]).update(thumbnail=None, preview=None)
    Photo.objects.filter(pk=photos[1]).update(
        location_warnings=[{"code": "exif_gps_invalid", "detail": '秒 = 60 "x"'}, {"code": "exif_heading_invalid"}]
    )
    rendered, expected = _sql_and_serializer_data(request, "photo", photos)
    assert rendered == expected
    assert rendered[str(photos[0])]["urls"]["thumbnail"] is None
    assert rendered[str(photos[1])]["urls"]["thumbnail"].startswith("http://testserver/")
    assert rendered[str(photos[1])]["location_warnings"][1] == {"code": "exif_heading_invalid"}

    decision = OnsiteDecision.objects.filter(pk__in=Certificate.objects.values("decision_id")).first()
    assert decision is not None
    rendered, expected = _sql_and_serializer_data(request, "onsite_decision", [decision.pk])
    assert rendered == expected and rendered[str(decision.pk)]["certificate"] is not None
    Certificate._base_manager.filter(decision=decision).delete()
    rendered, expected = _sql_and_serializer_data(request, "onsite_decision", [decision.pk])
    assert rendered == expected and rendered[str(decision.pk)]["certificate"] is None


def test_whole_number_coordinates_are_written_as_the_serializer_writes_them(world):
    """A site's boundary (a polygon, a multipolygon: what its CHECK admits) with whole-number
    coordinates: `120.0`, not `120`, byte for byte as the serializer's json.dumps writes them."""
    from django.contrib.gis.geos import GEOSGeometry

    from backend.sites.models import Site

    request = _request(User.objects.get(username="admin"))
    shapes = [
        "POLYGON((120 30, 121 30, 121.5 31, 120 30))",
        "MULTIPOLYGON(((-120 -30, 121 30, 121.25 31, -120 -30)), ((100 10, 101 10, 101 11, 100 10)))",
    ]
    sites = list(Site.objects.order_by("pk").values_list("pk", flat=True)[:2])
    assert len(sites) == 2
    for pk, wkt in zip(sites, shapes, strict=True):
        Site.objects.filter(pk=pk).update(boundary=GEOSGeometry(wkt, srid=4326))
    rendered, expected = _sql_and_serializer_data(request, "site", sites)
    assert rendered == expected
    polygon, multipolygon = (rendered[str(pk)]["boundary"] for pk in sites)
    assert polygon["coordinates"][0][:2] == [[120.0, 30.0], [121.0, 30.0]]
    assert multipolygon["coordinates"][1][0][0] == [100.0, 10.0]
