import pytest

from backend.cases.codes import (
    credit_code_check_character,
    credit_code_problem,
    normalize_credit_code,
    normalize_project_code,
    project_code_problem,
    region_code_of,
)
from backend.common.errors import ValidationFailed


def test_good_project_code_is_normalised_and_yields_its_region():
    assert normalize_project_code(" 2404-370211-04-01-123456 ") == "2404-370211-04-01-123456"
    assert normalize_project_code("2412-110105-99-02-00001x") == "2412-110105-99-02-00001X"
    assert region_code_of("2404-370211-04-01-123456") == "370211"


@pytest.mark.parametrize(
    ("code", "message"),
    [
        (
            "2404-370211-04-01-12345",
            "A project code has 24 characters (YYMM-RRRRRR-DD-TT-NNNNNC, e.g. 2404-370211-04-01-123456); got 23.",
        ),
        ("2413-370211-04-01-123456", "The month in a project code is 01 to 12; got 13."),
        ("2400-370211-04-01-123456", "The month in a project code is 01 to 12; got 00."),
        (
            "2404-37O211-04-01-123456",
            "A project code has the shape YYMM-RRRRRR-DD-TT-NNNNNC (digits, e.g. 2404-370211-04-01-123456).",
        ),
        (
            "2404 370211 04 01 123456",
            "A project code has the shape YYMM-RRRRRR-DD-TT-NNNNNC (digits, e.g. 2404-370211-04-01-123456).",
        ),
        (
            "2404-3702110-4-01-123456",
            "A project code has the shape YYMM-RRRRRR-DD-TT-NNNNNC (digits, e.g. 2404-370211-04-01-123456).",
        ),
        ("2404-000211-04-01-123456", "The region part of a project code is a 6-digit administrative division code."),
        ("", "A project code has 24 characters (YYMM-RRRRRR-DD-TT-NNNNNC, e.g. 2404-370211-04-01-123456); got 0."),
    ],
)
def test_bad_project_codes_are_refused_with_a_reason(code, message):
    assert project_code_problem(code) == message
    with pytest.raises(ValidationFailed) as error:
        normalize_project_code(code)
    assert error.value.code == "invalid_project_code"
    assert error.value.errors == {"code": [message]}


def test_credit_code_check_character_follows_gb_32100():
    # Published examples of valid codes.
    assert credit_code_problem("91350100M000100Y43") is None
    assert credit_code_problem("911100007109288314") is None
    assert credit_code_check_character("91370211MA3C8H4K1") == "P"
    assert normalize_credit_code("91370211ma3c8h4k1p") == "91370211MA3C8H4K1P"


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("91370211MA3C8H4K1A", "The check character of this unified social credit code should be P, not A."),
        ("91370211MA3C8H4K1", "A unified social credit code has 18 characters; got 17."),
        ("91370211MA3TEST01X", "A unified social credit code uses digits and capitals without I, O, S, V, Z; got S."),
    ],
)
def test_bad_credit_codes_are_refused(code, message):
    assert credit_code_problem(code) == message
    with pytest.raises(ValidationFailed) as error:
        normalize_credit_code(code)
    assert error.value.code == "invalid_credit_code"
