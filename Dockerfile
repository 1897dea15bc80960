# The API server and the background worker share this image (see docker-compose.yml).
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# GeoDjango needs GDAL, GEOS and PROJ at run time; the CJK font is for PDF reports;
# the PostgreSQL client is for `manage.py dbshell` and health debugging.
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        gdal-bin libgdal32 libgeos-c1v5 libproj25 \
        fonts-wqy-microhei postgresql-client \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY requirements.txt .
RUN pip install -r requirements.txt

# Only what the server runs (no .venv, var/, tests or benchmarks in the image).
COPY manage.py ./
COPY backend backend
COPY mobile_api mobile_api
COPY gis_layers gis_layers
# Static files (admin, API docs) are served by WhiteNoise from var/static.
RUN DJANGO_DEVELOPMENT=1 python manage.py collectstatic --noinput -v 0 \
    && useradd --system --uid 10001 --home-dir /app app \
    && mkdir -p var/media var/blobs var/uploads \
    && chown -R app:app var

USER app
EXPOSE 8000
# GUNICORN_WORKERS / GUNICORN_THREADS / GUNICORN_TIMEOUT are read here, not by Django: the same
# defaults as docker-compose.yml (2 workers x 8 threads, see there and the README for why; the
# layers' answer cache did not change the choice).
# gunicorn's request-line and header limits are at their maxima so that the proxy's lower ones
# (deploy/nginx/default.conf) refuse first, with problem+json instead of gunicorn's HTML pages;
# --keep-alive 5 outlasts the proxy's 4 s idle upstream connections.
CMD ["sh", "-c", "exec gunicorn backend.wsgi:application --bind 0.0.0.0:8000 --workers ${GUNICORN_WORKERS:-2} --threads ${GUNICORN_THREADS:-8} --timeout ${GUNICORN_TIMEOUT:-120} --keep-alive ${GUNICORN_KEEPALIVE:-5} --limit-request-line 8190 --limit-request-fields 32768 --limit-request-field_size 8190 --access-logfile -"]
