from backend.cases.tests.smtp import smtp_server  # noqa: F401 - the fixture, for every test here
