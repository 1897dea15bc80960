from django.db import migrations

SHARDS = 64


class Migration(migrations.Migration):
    """The change counter in 64 rows: a writing transaction bumps the row of its transaction id
    (txid mod 64), so concurrent writers rarely queue on one row; readers sum the rows, a total
    that grows with every commit (backend.layers.changes.current)."""

    dependencies = [("gis_layers", "0001_layer_change_counter")]

    operations = [
        migrations.RunSQL(
            sql=[
                "ALTER TABLE gis_layers_change DROP CONSTRAINT gis_layers_change_id_check",
                f"ALTER TABLE gis_layers_change ADD CONSTRAINT gis_layers_change_shard CHECK (id BETWEEN 1 AND {SHARDS})",
                "INSERT INTO gis_layers_change SELECT n, 0, changed_at FROM generate_series(2, %d) n, "
                "(SELECT changed_at FROM gis_layers_change WHERE id = 1) first" % SHARDS,
                "CREATE OR REPLACE FUNCTION gis_layers_change_bump() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                "UPDATE gis_layers_change SET version = version + 1, changed_at = clock_timestamp() "
                f"WHERE id = (txid_current() % {SHARDS}) + 1; RETURN NULL; END $$",
            ],
            reverse_sql=[
                "UPDATE gis_layers_change SET version = (SELECT sum(version) FROM gis_layers_change), "
                "changed_at = (SELECT max(changed_at) FROM gis_layers_change) WHERE id = 1",
                "DELETE FROM gis_layers_change WHERE id > 1",
                "ALTER TABLE gis_layers_change DROP CONSTRAINT gis_layers_change_shard",
                "ALTER TABLE gis_layers_change ADD CONSTRAINT gis_layers_change_id_check CHECK (id = 1)",
                "CREATE OR REPLACE FUNCTION gis_layers_change_bump() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                "UPDATE gis_layers_change SET version = version + 1, changed_at = clock_timestamp() WHERE id = 1; "
                "RETURN NULL; END $$",
            ],
        )
    ]
