"""Demo data for development: a key industrial project in the Qingdao West Coast New Area.

One module per domain app builds that app's part of the demo world through the app's own
services (`seed()`, idempotent). `manage.py seed_demo` runs them in dependency order and
`manage.py print_demo_credentials` prints the demo users. The app is installed only with
DJANGO_DEVELOPMENT=1 (backend/settings.py): a production installation has neither the
commands nor the demo password.
"""
