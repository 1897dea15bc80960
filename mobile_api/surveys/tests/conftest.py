# The survey fixtures are shared with the domain tests.
from backend.surveys.tests.conftest import (  # noqa: F401
    _empty_cache,
    api,
    builder,
    case,
    crew_member,
    official,
    outsider,
    utility_staff,
)
