"""What a utility request asks for and what an access point records, per utility type.

The schemas are data (one `Spec` per key, with its unit and range) so the API documentation,
the admin and the validator read the same thing; `validate_fields` is the one validator.
Errors are keyed like the client sends them: "demand.daily_m3", "attributes.voltage_kv".
"""

import math
from dataclasses import dataclass
from typing import Any

from backend.accounts.models import UtilityType
from backend.common.errors import ValidationFailed

NUMBER = "number"
INTEGER = "integer"
BOOLEAN = "boolean"
CHOICE = "choice"
TEXT = "text"
CHOICE_LIST = "choice_list"


@dataclass(frozen=True)
class Spec:
    kind: str
    label: str
    unit: str = ""
    required: bool = True
    # Bounds for numbers: `exclusive_minimum` (value must be greater), `minimum`, `maximum` (inclusive).
    exclusive_minimum: float | None = None
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[Any, ...] = ()
    max_length: int = 100


@dataclass(frozen=True)
class Schema:
    fields: dict[str, Spec]
    # Groups of keys of which at least one must be present and greater than zero.
    at_least_one_positive: tuple[tuple[str, ...], ...] = ()


WATER_METER_DIAMETERS_MM = (15, 20, 25, 40, 50, 80, 100, 150, 200, 300)
TELECOM_OPERATORS = ("china_mobile", "china_unicom", "china_telecom", "china_broadnet")

DEMAND_SCHEMAS: dict[str, Schema] = {
    UtilityType.WATER: Schema(
        {
            "use_type": Spec(CHOICE, "用水性质", choices=("domestic", "industrial", "commercial", "fire")),
            "daily_m3": Spec(NUMBER, "日用水量", unit="m³/d", exclusive_minimum=0, maximum=1e6),
            "meter_diameter_mm": Spec(INTEGER, "水表口径", unit="mm", choices=WATER_METER_DIAMETERS_MM),
            "supply_mode": Spec(CHOICE, "供水方式", choices=("municipal_direct", "booster", "roof_tank")),
            "households": Spec(INTEGER, "户数", required=False, minimum=0, maximum=1_000_000),
            "buildings": Spec(INTEGER, "楼栋数", minimum=1, maximum=10_000),
            "floors": Spec(INTEGER, "层数", minimum=1, maximum=200),
        }
    ),
    UtilityType.POWER: Schema(
        {
            "capacity_kva": Spec(NUMBER, "报装容量", unit="kVA", exclusive_minimum=0, maximum=1e6),
            # False: a new connection; true: capacity added to an existing one (增容).
            "is_addition": Spec(BOOLEAN, "是否增容"),
            "voltage_kv": Spec(NUMBER, "供电电压等级", unit="kV", choices=(0.4, 10, 35)),
            "supply": Spec(CHOICE, "供电电源", choices=("single", "dual")),
            "load_class": Spec(INTEGER, "负荷等级", choices=(1, 2, 3)),
            "metering": Spec(CHOICE, "计量方式", choices=("high_side", "low_side")),
        }
    ),
    UtilityType.GAS: Schema(
        {
            "peak_m3h": Spec(NUMBER, "高峰小时用气量", unit="m³/h", exclusive_minimum=0, maximum=1e6),
            "annual_m3": Spec(NUMBER, "年用气量", unit="m³", exclusive_minimum=0, maximum=1e10),
            "pressure": Spec(CHOICE, "压力级制", choices=("low", "medium")),
        }
    ),
    UtilityType.HEATING: Schema(
        {
            "heat_load_kw": Spec(NUMBER, "热负荷", unit="kW", exclusive_minimum=0, maximum=1e7),
            "heated_area_m2": Spec(NUMBER, "供热面积", unit="m²", exclusive_minimum=0, maximum=1e8),
            "medium": Spec(CHOICE, "供热介质", choices=("hot_water", "steam")),
        }
    ),
    UtilityType.TELECOM: Schema(
        {
            "ports": Spec(INTEGER, "端口数", required=False, minimum=0, maximum=1_000_000),
            "fibre_pairs": Spec(INTEGER, "光纤芯对数", required=False, minimum=0, maximum=100_000),
            "operators": Spec(CHOICE_LIST, "运营商", choices=TELECOM_OPERATORS),
        },
        at_least_one_positive=(("ports", "fibre_pairs"),),
    ),
}

# Access point attributes: recorded progressively on site, so every key is optional.
PIPE_MATERIALS = ("ductile_iron", "steel", "pe", "pvc", "ppr", "concrete", "other")

ATTRIBUTE_SCHEMAS: dict[str, Schema] = {
    UtilityType.WATER: Schema(
        {
            "pipe_diameter_mm": Spec(INTEGER, "管径", unit="mm", required=False, minimum=15, maximum=3000),
            "pipe_material": Spec(CHOICE, "管材", required=False, choices=PIPE_MATERIALS),
            "pressure_mpa": Spec(NUMBER, "供水压力", unit="MPa", required=False, exclusive_minimum=0, maximum=2.5),
            "capacity_m3d": Spec(NUMBER, "可供水量", unit="m³/d", required=False, exclusive_minimum=0, maximum=1e6),
        }
    ),
    UtilityType.POWER: Schema(
        {
            "voltage_kv": Spec(NUMBER, "电压等级", unit="kV", required=False, choices=(0.4, 10, 35, 110)),
            "pole_id": Spec(TEXT, "杆号", required=False, max_length=50),
            "line_id": Spec(TEXT, "线路名称/编号", required=False, max_length=100),
            "capacity_kva": Spec(NUMBER, "可接入容量", unit="kVA", required=False, exclusive_minimum=0, maximum=1e6),
        }
    ),
    UtilityType.GAS: Schema(
        {
            "pipe_diameter_mm": Spec(INTEGER, "管径", unit="mm", required=False, minimum=15, maximum=1500),
            "pipe_material": Spec(CHOICE, "管材", required=False, choices=PIPE_MATERIALS),
            "pressure_level": Spec(CHOICE, "压力级制", required=False, choices=("low", "medium", "sub_high", "high")),
            "capacity_m3h": Spec(NUMBER, "可供气量", unit="m³/h", required=False, exclusive_minimum=0, maximum=1e6),
        }
    ),
    UtilityType.HEATING: Schema(
        {
            "pipe_diameter_mm": Spec(INTEGER, "管径", unit="mm", required=False, minimum=15, maximum=1500),
            "pipe_material": Spec(CHOICE, "管材", required=False, choices=PIPE_MATERIALS),
            "medium": Spec(CHOICE, "供热介质", required=False, choices=("hot_water", "steam")),
            "capacity_kw": Spec(NUMBER, "可供热负荷", unit="kW", required=False, exclusive_minimum=0, maximum=1e7),
        }
    ),
    UtilityType.TELECOM: Schema(
        {
            "operator": Spec(CHOICE, "运营商", required=False, choices=TELECOM_OPERATORS),
            "cabinet_id": Spec(TEXT, "光交箱/人井编号", required=False, max_length=50),
            "fibre_pairs": Spec(INTEGER, "可用芯对数", required=False, minimum=0, maximum=100_000),
            "ports": Spec(INTEGER, "可用端口数", required=False, minimum=0, maximum=1_000_000),
        }
    ),
}


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _is_integer(value: Any) -> bool:
    return _is_number(value) and float(value).is_integer()


def _with_unit(value: Any, spec: Spec) -> str:
    return f"{value} {spec.unit}" if spec.unit else f"{value}"


def _check_value(value: Any, spec: Spec) -> tuple[Any, str | None]:
    """(normalised value, None) or (None, message)."""
    if spec.kind == BOOLEAN:
        if not isinstance(value, bool):
            return None, "Must be true or false."
        return value, None
    if spec.kind == TEXT:
        if not isinstance(value, str) or not value.strip():
            return None, "Must be a non-empty string."
        if len(value) > spec.max_length:
            return None, f"At most {spec.max_length} characters."
        return value.strip(), None
    if spec.kind == CHOICE_LIST:
        if not isinstance(value, list) or not value:
            return None, f"Must be a non-empty list of: {', '.join(map(str, spec.choices))}."
        unknown = [item for item in value if not isinstance(item, str) or item not in spec.choices]
        if unknown:
            return None, f"Unknown value {unknown[0]!r:.40}; choose from: {', '.join(map(str, spec.choices))}."
        if len(set(value)) != len(value):
            return None, "Each value may appear once."
        return list(value), None
    if spec.kind in (NUMBER, INTEGER):
        if spec.kind == INTEGER and not _is_integer(value):
            return None, "Must be a whole number."
        if not _is_number(value):
            return None, f"Must be a number{f' in {spec.unit}' if spec.unit else ''}."
        if spec.kind == INTEGER:
            value = int(value)
        if spec.choices and value not in spec.choices:
            return None, f"Must be one of: {', '.join(_with_unit(c, spec) for c in spec.choices)}."
        if spec.exclusive_minimum is not None and not value > spec.exclusive_minimum:
            return None, f"Must be greater than {_with_unit(spec.exclusive_minimum, spec)}."
        if spec.minimum is not None and value < spec.minimum:
            return None, f"Must be at least {_with_unit(spec.minimum, spec)}."
        if spec.maximum is not None and value > spec.maximum:
            return None, f"Must be at most {_with_unit(_plain(spec.maximum), spec)}."
        return value, None
    if spec.kind == CHOICE:
        if not isinstance(value, str) or value not in spec.choices:
            return None, f"Must be one of: {', '.join(map(str, spec.choices))}."
        return value, None
    raise AssertionError(f"unknown spec kind {spec.kind}")  # pragma: no cover - schema bug


def _plain(number: float) -> Any:
    return int(number) if float(number).is_integer() else number


def validate_fields(schema: Schema, data: Any, *, prefix: str) -> dict[str, Any]:
    """`data` checked against `schema`; returns the normalised dict or raises ValidationFailed
    with every problem at once, keyed "<prefix>.<key>"."""
    if not isinstance(data, dict):
        raise ValidationFailed(f"{prefix} must be an object.", errors={prefix: ["Must be a JSON object."]})
    errors: dict[str, list[str]] = {}
    clean: dict[str, Any] = {}
    for key in data:
        if key not in schema.fields:
            errors[f"{prefix}.{key}"] = [f"Unknown field; allowed: {', '.join(schema.fields)}."]
    for key, spec in schema.fields.items():
        if key not in data or data[key] is None:
            if spec.required:
                errors[f"{prefix}.{key}"] = [f"Required ({spec.label}{', ' + spec.unit if spec.unit else ''})."]
            continue
        value, message = _check_value(data[key], spec)
        if message:
            errors[f"{prefix}.{key}"] = [message]
        else:
            clean[key] = value
    for group in schema.at_least_one_positive:
        if not any(f"{prefix}.{key}" in errors for key in group) and not any(clean.get(key, 0) > 0 for key in group):
            errors[f"{prefix}.{group[0]}"] = [f"At least one of {', '.join(group)} must be greater than 0."]
    if errors:
        detail = "; ".join(f"{key}: {' '.join(messages)}" for key, messages in errors.items())
        raise ValidationFailed(f"Invalid {prefix}: {detail}"[:1000], errors=errors)
    return clean


def _schema_for(schemas: dict[str, Schema], utility_type: str, prefix: str) -> Schema:
    schema = schemas.get(utility_type)
    if schema is None:
        raise ValidationFailed(
            f"Unknown utility type {utility_type!r:.40}.",
            errors={"utility_type": [f"Must be one of: {', '.join(UtilityType.values)}."]},
        )
    return schema


def validate_demand(*, utility_type: str, demand: Any, prefix: str = "demand") -> dict[str, Any]:
    """A request's demand for `utility_type`, checked for units, ranges, missing and unknown keys."""
    return validate_fields(_schema_for(DEMAND_SCHEMAS, utility_type, prefix), demand, prefix=prefix)


def validate_attributes(*, utility_type: str, attributes: Any, prefix: str = "attributes") -> dict[str, Any]:
    """An access point's type attributes (all optional, unknown keys refused)."""
    return validate_fields(_schema_for(ATTRIBUTE_SCHEMAS, utility_type, prefix), attributes, prefix=prefix)


def schema_as_json(schema: Schema) -> dict[str, Any]:
    """For documentation and clients building forms."""
    return {
        key: {
            "type": spec.kind,
            "label": spec.label,
            **({"unit": spec.unit} if spec.unit else {}),
            "required": spec.required,
            **({"exclusive_minimum": spec.exclusive_minimum} if spec.exclusive_minimum is not None else {}),
            **({"minimum": spec.minimum} if spec.minimum is not None else {}),
            **({"maximum": _plain(spec.maximum)} if spec.maximum is not None else {}),
            **({"choices": list(spec.choices)} if spec.choices else {}),
        }
        for key, spec in schema.fields.items()
    }
