"""The WSGI application gunicorn serves (`backend.wsgi:application`).

Once the application is loaded (settings, apps, models, the URLconf and every view module it
names), the objects that make it up are frozen out of the cyclic garbage collector (`gc.freeze`):
they live as long as the process, yet every full collection would walk all of them (~190,000,
~60 ms each time, inside whichever request's allocation set it off). Frozen, a full collection
walks only what requests keep (~20,000 objects): `bench.bench_sync` measured 5 % of a sync push's
time in full collections before.
"""

import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.settings")
application = get_wsgi_application()


def freeze_loaded_objects() -> None:
    """Import what the URLconf names, drop the garbage of loading, freeze the rest."""
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 - imports the URLconf and, through it, every view module
    gc.collect()
    gc.freeze()


freeze_loaded_objects()
