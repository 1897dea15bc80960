"""Validation of the national project code and the unified social credit code.

Both return the normalised value or raise `ValidationFailed` with an `errors` entry for the
field, so the same check serves the REST API, the approval-system upsert and the admin.
"""

import re

from backend.common.errors import ValidationFailed

# 投资项目统一代码: YYMM-RRRRRR-DD-TT-NNNNNC (yymm, region, department, type, serial, check).
PROJECT_CODE_PATTERN = re.compile(r"^(\d{2})(\d{2})-(\d{6})-(\d{2})-(\d{2})-(\d{5})([0-9A-Z])$")
PROJECT_CODE_EXAMPLE = "2404-370211-04-01-123456"


def project_code_problem(code: str) -> str | None:
    """Why `code` is not a national project code, or None when it is one."""
    if len(code) != 24:
        return f"A project code has 24 characters (YYMM-RRRRRR-DD-TT-NNNNNC, e.g. {PROJECT_CODE_EXAMPLE}); got {len(code)}."
    match = PROJECT_CODE_PATTERN.match(code)
    if match is None:
        return f"A project code has the shape YYMM-RRRRRR-DD-TT-NNNNNC (digits, e.g. {PROJECT_CODE_EXAMPLE})."
    month = int(match.group(2))
    if not 1 <= month <= 12:
        return f"The month in a project code is 01 to 12; got {match.group(2)}."
    if match.group(3).startswith("00"):
        return "The region part of a project code is a 6-digit administrative division code."
    return None


def normalize_project_code(code: str, *, field: str = "code") -> str:
    code = (code or "").strip().upper()
    problem = project_code_problem(code)
    if problem:
        raise ValidationFailed(problem, code="invalid_project_code", errors={field: [problem]})
    return code


def region_code_of(code: str) -> str:
    """The 6-digit administrative division inside a (valid) project code."""
    return code[5:11]


# GB 32100-2015 统一社会信用代码: 18 characters from this alphabet, the last one a check character.
CREDIT_CODE_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
CREDIT_CODE_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def credit_code_check_character(first17: str) -> str:
    total = sum(CREDIT_CODE_ALPHABET.index(ch) * w for ch, w in zip(first17, CREDIT_CODE_WEIGHTS, strict=True))
    return CREDIT_CODE_ALPHABET[(31 - total % 31) % 31]


def credit_code_problem(code: str) -> str | None:
    if len(code) != 18:
        return f"A unified social credit code has 18 characters; got {len(code)}."
    bad = sorted({ch for ch in code if ch not in CREDIT_CODE_ALPHABET})
    if bad:
        return f"A unified social credit code uses digits and capitals without I, O, S, V, Z; got {''.join(bad)}."
    expected = credit_code_check_character(code[:17])
    if code[17] != expected:
        return f"The check character of this unified social credit code should be {expected}, not {code[17]}."
    return None


def normalize_credit_code(code: str, *, field: str = "credit_code") -> str:
    code = (code or "").strip().upper()
    problem = credit_code_problem(code)
    if problem:
        raise ValidationFailed(problem, code="invalid_credit_code", errors={field: [problem]})
    return code
