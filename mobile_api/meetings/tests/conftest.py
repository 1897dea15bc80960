# The survey fixtures (cases, officials, outsiders) are shared with the meetings tests.
from backend.surveys.tests.conftest import (  # noqa: F401
    _empty_cache,
    api,
    builder,
    case,
    crew_member,
    official,
    outsider,
)
