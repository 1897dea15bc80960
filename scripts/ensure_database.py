"""Create the database named in DATABASE_URL and the PostGIS extension, if missing."""

import os
import sys

import dj_database_url
import psycopg2
from psycopg2 import sql

config = dj_database_url.parse(os.environ["DATABASE_URL"])
name = config["NAME"]
params = {
    "host": config.get("HOST") or "127.0.0.1",
    "port": config.get("PORT") or 5432,
    "user": config.get("USER") or "postgres",
    "password": config.get("PASSWORD") or None,
    "connect_timeout": 10,
}
try:
    admin = psycopg2.connect(dbname="postgres", **params)
except psycopg2.OperationalError as error:
    sys.exit(f"cannot reach PostgreSQL at {params['host']}:{params['port']}: {error}")
admin.autocommit = True
with admin.cursor() as cursor:
    cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
    if cursor.fetchone() is None:
        cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        print(f"[setup] created database {name}")
admin.close()
db = psycopg2.connect(dbname=name, **params)
db.autocommit = True
with db.cursor() as cursor:
    cursor.execute("CREATE EXTENSION IF NOT EXISTS postgis")
db.close()
