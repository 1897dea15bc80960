"""Suite-wide pytest plugins; see tests/s3_plugin.py for the S3 and storage fixtures."""

pytest_plugins = ["tests.s3_plugin", "tests.audit_flush_plugin", "tests.seeded_rows_plugin"]
