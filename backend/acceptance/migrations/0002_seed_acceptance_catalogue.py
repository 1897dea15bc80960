"""Seed the joint acceptance catalogue (seed 000): stage 1 and stage 2 matters with their departments.

Administrators edit the rows afterwards; the reverse removes only the seeded codes.
"""

from django.db import migrations

# code, stage, name, default department name (resolved to an organisation when an inspection is created)
CATALOGUE = [
    ("planning_verification", 1, "竣工规划核实", "青岛西海岸新区自然资源局"),
    ("fire", 1, "消防验收或备案", "青岛西海岸新区消防救援大队"),
    ("archives", 1, "档案验收", "青岛西海岸新区城建档案馆"),
    ("completion_filing", 1, "房屋建筑和市政基础设施工程竣工验收备案", "青岛西海岸新区住房和城乡建设局"),
    ("civil_air_defence", 1, "人防工程竣工验收备案", "青岛西海岸新区人防办"),
    ("soil_water_conservation", 2, "水土保持设施验收报备", "青岛西海岸新区水务局"),
    ("telecom_infrastructure", 2, "电信基础设施工程备案", "青岛西海岸新区通信发展办"),
    ("lightning_protection", 2, "防雷装置竣工验收", "青岛西海岸新区气象局"),
]


def seed(apps, schema_editor):
    CatalogueItem = apps.get_model("acceptance", "CatalogueItem")
    for order, (code, stage, name, department_name) in enumerate(CATALOGUE, start=1):
        CatalogueItem.objects.update_or_create(
            code=code,
            defaults={"stage": stage, "name": name, "default_department_name": department_name, "order": order},
        )


def unseed(apps, schema_editor):
    CatalogueItem = apps.get_model("acceptance", "CatalogueItem")
    CatalogueItem.objects.filter(code__in=[row[0] for row in CATALOGUE]).delete()


class Migration(migrations.Migration):
    dependencies = [("acceptance", "0001_acceptance_records_and_catalogue")]

    operations = [migrations.RunPython(seed, unseed)]
