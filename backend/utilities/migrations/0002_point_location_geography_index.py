from django.db import migrations


class Migration(migrations.Migration):
    """Distances in metres (nearby search) are computed on geography: a functional GiST index on
    location::geography serves both ST_DWithin(location::geography, …) and the KNN ordering
    location::geography <-> point::geography (backend.utilities.selectors.utility_points_nearby_query)."""

    dependencies = [("utilities", "0001_utility_applications_requests_points")]

    operations = [
        migrations.RunSQL(
            sql="CREATE INDEX utilities_point_location_geog_gist "
            "ON utilities_utilitypoint USING GIST ((location::geography));",
            reverse_sql="DROP INDEX IF EXISTS utilities_point_location_geog_gist;",
        )
    ]
