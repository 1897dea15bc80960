import math

import factory

from backend.accounts.models import OrganizationKind, Role
from backend.accounts.tests.factories import OrganizationFactory, UserFactory
from backend.evidence.models import Blob, StorageBackend

# WGS84 ellipsoid.
WGS84_A = 6378137.0
WGS84_E2 = 6.69437999014e-3


def metres_along_parallel(lat: float, lon_from: float, lon_to: float) -> float:
    """Metres between two points of one latitude (close enough to the geodesic for short spans)."""
    phi = math.radians(lat)
    radius = WGS84_A / math.sqrt(1 - WGS84_E2 * math.sin(phi) ** 2) * math.cos(phi)
    return abs(math.radians(lon_to - lon_from)) * radius


def official(region: str = "370211"):
    """An official of an approval department whose jurisdiction is `region` (they may write)."""
    return UserFactory(
        organization=OrganizationFactory(kind=OrganizationKind.APPROVAL_DEPARTMENT, region=region),
        roles=[Role.OFFICIAL],
    )


class BlobFactory(factory.django.DjangoModelFactory):
    """A Blob row only (no bytes); use blob_store_from_file for real files."""

    class Meta:
        model = Blob

    sha256 = factory.Sequence(lambda n: f"{n:064x}")
    size = 10
    content_type = "image/jpeg"
    storage = StorageBackend.FILESYSTEM
