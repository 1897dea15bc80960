import pytest
from django.core.management import call_command

from backend.signatures.models import Signature
from backend.signatures.services import signature_verify
from backend.surveys.models import Survey

pytestmark = pytest.mark.django_db


def test_demo_signs_the_submitted_survey_and_is_idempotent():
    call_command("seed_demo", verbosity=0)
    survey = Survey.objects.get(summary__startswith="海晟新能源装备智能制造基地一期")
    assert (survey.status, survey.is_locked) == ("signed", True)
    signatures = list(Signature.objects.filter(record_id=survey.pk).order_by("signer_name"))
    assert sorted(s.signer_name for s in signatures) == sorted(["李建国", "王海涛", "张敏", "陈志强"])
    assert all(signature_verify(signature=s)["valid"] for s in signatures)
    call_command("seed_demo", verbosity=0)
    assert Signature.objects.filter(record_id=survey.pk).count() == 4


def test_demo_without_data_does_nothing():
    from backend.demo import signatures as demo

    demo.seed()
    assert Signature.objects.count() == 0
