"""The reference device client for /api/v1/sync (see client.py); `python -m mobile_api.client`."""

from mobile_api.client.client import RetriesExhausted, SyncClient, SyncError, file_sha256
from mobile_api.client.store import Store

__all__ = ["RetriesExhausted", "Store", "SyncClient", "SyncError", "file_sha256"]
