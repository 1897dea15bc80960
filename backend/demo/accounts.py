"""Demo organisations and users, one for every role."""

from backend.accounts.models import Organization, OrganizationKind, Role, User, UtilityType

DEMO_PASSWORD = "demo-pass-2026"

# name, kind, region, utility types, credit code
DEMO_ORGANIZATIONS = [
    ("青岛西海岸新区行政审批服务局", OrganizationKind.APPROVAL_DEPARTMENT, "370211", [], ""),
    ("青岛西海岸新区自然资源局", OrganizationKind.APPROVAL_DEPARTMENT, "370211", [], ""),
    ("青岛西海岸新区住房和城乡建设局", OrganizationKind.APPROVAL_DEPARTMENT, "370211", [], ""),
    ("青岛西海岸新区消防救援大队", OrganizationKind.APPROVAL_DEPARTMENT, "370211", [], ""),
    ("青岛西海岸新区城建档案馆", OrganizationKind.APPROVAL_DEPARTMENT, "370211", [], ""),
    ("青岛西海岸新区人防办", OrganizationKind.APPROVAL_DEPARTMENT, "370211", [], ""),
    ("青岛西海岸新区水务局", OrganizationKind.APPROVAL_DEPARTMENT, "370211", [], ""),
    ("青岛西海岸新区气象局", OrganizationKind.APPROVAL_DEPARTMENT, "370211", [], ""),
    ("青岛西海岸新区通信发展办", OrganizationKind.APPROVAL_DEPARTMENT, "370211", [], ""),
    ("青岛市黄岛区联合踏勘一组", OrganizationKind.SURVEY_CREW, "370211", [], ""),
    ("西海岸新区联合验收专班", OrganizationKind.ACCEPTANCE_TEAM, "370211", [], ""),
    ("审批服务直通车专班", OrganizationKind.VEHICLE_TEAM, "370211", [], ""),
    ("青岛海润自来水集团黄岛分公司", OrganizationKind.UTILITY_COMPANY, "370211", [UtilityType.WATER], ""),
    ("国网青岛市黄岛区供电公司", OrganizationKind.UTILITY_COMPANY, "370211", [UtilityType.POWER], ""),
    ("青岛泰能燃气西海岸分公司", OrganizationKind.UTILITY_COMPANY, "370211", [UtilityType.GAS], ""),
    ("青岛西海岸热电集团", OrganizationKind.UTILITY_COMPANY, "370211", [UtilityType.HEATING], ""),
    ("中国联通青岛西海岸分公司", OrganizationKind.UTILITY_COMPANY, "370211", [UtilityType.TELECOM], ""),
    ("青岛海晟新能源装备制造有限公司", OrganizationKind.BUILDER, "370211", [], "91370211MA3C0DE012"),
    # The provincial system: its region is Shandong's (37), so it sees the province's cases only.
    ("山东省工程建设项目审批管理系统", OrganizationKind.EXTERNAL_SYSTEM, "37", [], ""),
]

# username, organisation name (or None), roles, is_superuser
DEMO_USERS = [
    ("admin", None, [Role.ADMINISTRATOR], True),
    ("official", "青岛西海岸新区行政审批服务局", [Role.OFFICIAL, Role.BACK_OFFICE], False),
    ("planning", "青岛西海岸新区自然资源局", [Role.OFFICIAL, Role.INSPECTOR], False),
    ("fire", "青岛西海岸新区消防救援大队", [Role.OFFICIAL, Role.INSPECTOR], False),
    ("surveyor", "青岛市黄岛区联合踏勘一组", [Role.SURVEYOR], False),
    ("inspector", "西海岸新区联合验收专班", [Role.INSPECTOR], False),
    ("vehicle_lead", "审批服务直通车专班", [Role.VEHICLE_LEAD], False),
    ("vehicle_agent", "审批服务直通车专班", [Role.VEHICLE_AGENT], False),
    ("water", "青岛海润自来水集团黄岛分公司", [Role.UTILITY_STAFF], False),
    ("power", "国网青岛市黄岛区供电公司", [Role.UTILITY_STAFF], False),
    ("gas", "青岛泰能燃气西海岸分公司", [Role.UTILITY_STAFF], False),
    ("heating", "青岛西海岸热电集团", [Role.UTILITY_STAFF], False),
    ("telecom", "中国联通青岛西海岸分公司", [Role.UTILITY_STAFF], False),
    ("builder", "青岛海晟新能源装备制造有限公司", [Role.BUILDER_REPRESENTATIVE], False),
    ("approval_system", "山东省工程建设项目审批管理系统", [Role.INTEGRATION], False),
]


def seed() -> None:
    for name, kind, region, utility_types, credit_code in DEMO_ORGANIZATIONS:
        Organization.objects.update_or_create(
            name=name,
            defaults={"kind": kind, "region": region, "utility_types": utility_types, "credit_code": credit_code},
        )
    for username, org_name, roles, is_superuser in DEMO_USERS:
        user, created = User.objects.get_or_create(
            username=username,
            defaults={
                "organization": Organization.objects.get(name=org_name) if org_name else None,
                "roles": list(roles),
                "is_superuser": is_superuser,
                "is_staff": is_superuser or Role.OFFICIAL in roles,
            },
        )
        if created:
            user.set_password(DEMO_PASSWORD)
            user.save(update_fields=["password"])
