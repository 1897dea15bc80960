"""Suite-wide pytest plugins: tests/s3_plugin.py for the S3 and storage fixtures,
tests/demo_world_plugin.py for the demo world built once per session."""

pytest_plugins = [
    "tests.s3_plugin",
    "tests.audit_flush_plugin",
    "tests.seeded_rows_plugin",
    "tests.demo_world_plugin",
]
