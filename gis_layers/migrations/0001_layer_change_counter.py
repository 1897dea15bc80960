from django.db import migrations


class Migration(migrations.Migration):
    """One row counting committed changes to anything a map layer or its scope reads, for the
    layers' ETag and Last-Modified (backend.layers.changes). The triggers that bump it are installed
    after every migrate (gis_layers.apps), so tables added later are covered too."""

    initial = True
    dependencies = []

    operations = [
        migrations.RunSQL(
            sql=[
                "CREATE TABLE gis_layers_change (id smallint PRIMARY KEY CHECK (id = 1), "
                "version bigint NOT NULL, changed_at timestamptz NOT NULL)",
                "INSERT INTO gis_layers_change VALUES (1, 1, now())",
                "CREATE FUNCTION gis_layers_change_bump() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                "UPDATE gis_layers_change SET version = version + 1, changed_at = clock_timestamp() WHERE id = 1; "
                "RETURN NULL; END $$",
            ],
            reverse_sql=["DROP FUNCTION gis_layers_change_bump() CASCADE", "DROP TABLE gis_layers_change"],
        )
    ]
