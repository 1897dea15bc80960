"""The reference device client for /api/v1/sync (see client.py); `python -m field_client`."""

from field_client.client import RetriesExhausted, SyncClient, SyncError, file_sha256
from field_client.store import Store

__all__ = ["RetriesExhausted", "Store", "SyncClient", "SyncError", "file_sha256"]
