"""Suite-wide pytest plugins; see backend/common/testing_s3.py for the S3 and storage fixtures."""

pytest_plugins = ["backend.common.testing_s3", "tests.audit_flush_plugin", "tests.seeded_rows_plugin"]
