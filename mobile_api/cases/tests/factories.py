import copy

UPSERT_BODY = {
    "project": {
        "code": "2404-370211-04-01-123456",
        "name": "青岛海晟新能源装备制造基地项目",
        "builder": {"credit_code": "91370211MA3C8H4K1P", "name": "青岛海晟新能源装备制造有限公司"},
        "investment_type": "private",
        "category": "industrial_four_upgrades",
        "is_simple_low_risk": False,
        "priority": "city",
        "location": {"type": "Point", "coordinates": [120.17, 35.96]},
    },
    "stage": "engineering_planning",
    "is_parallel": True,
    "status": 3,
    "opened_at": "2026-03-02T09:00:00+08:00",
    "items": [
        {
            "external_id": "SX-001",
            "name": "建设工程规划许可证核发",
            "department_name": "自然资源局",
            "statutory_days": 20,
            "promised_days": 10,
            "accepted_at": "2026-03-02T10:00:00+08:00",
            "status": 3,
            "modes": ["tolerance"],
            "materials": [
                {"name": "建设工程设计方案", "received_at": "2026-03-02T10:00:00+08:00"},
                {"name": "土地出让合同", "is_waivable": True, "promised_by": "2026-03-10"},
            ],
            "status_events": [{"status": 3, "occurred_at": "2026-03-02T10:00:00+08:00"}],
        }
    ],
}


def upsert_body(**changes):
    body = copy.deepcopy(UPSERT_BODY)
    body.update(changes)
    return body
