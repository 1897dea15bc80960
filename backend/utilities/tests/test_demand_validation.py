import copy

import pytest

from backend.accounts.models import UtilityType
from backend.common.errors import ValidationFailed
from backend.utilities.demand import validate_attributes, validate_demand
from backend.utilities.models import UtilityApplication, UtilityRequest
from backend.utilities.services import utility_application_create, utility_request_create
from backend.utilities.tests.factories import VALID_DEMANDS


def errors_of(utility_type, demand):
    with pytest.raises(ValidationFailed) as caught:
        validate_demand(utility_type=utility_type, demand=demand)
    assert caught.value.code == "validation_error"
    assert caught.value.status == 400
    return caught.value.errors


def with_changes(utility_type, **changes):
    demand = copy.deepcopy(VALID_DEMANDS[utility_type])
    for key, value in changes.items():
        if value is ...:
            del demand[key]
        else:
            demand[key] = value
    return demand


@pytest.mark.parametrize("utility_type", UtilityType.values)
def test_valid_demand_of_every_type_is_accepted_unchanged(utility_type):
    assert validate_demand(utility_type=utility_type, demand=VALID_DEMANDS[utility_type]) == VALID_DEMANDS[utility_type]


@pytest.mark.parametrize(
    ("utility_type", "changes", "expected"),
    [
        # water
        (UtilityType.WATER, {"daily_m3": 0}, {"demand.daily_m3": ["Must be greater than 0 m³/d."]}),
        (UtilityType.WATER, {"daily_m3": -5}, {"demand.daily_m3": ["Must be greater than 0 m³/d."]}),
        (UtilityType.WATER, {"daily_m3": 1_000_001}, {"demand.daily_m3": ["Must be at most 1000000 m³/d."]}),
        (UtilityType.WATER, {"daily_m3": "350"}, {"demand.daily_m3": ["Must be a number in m³/d."]}),
        (UtilityType.WATER, {"daily_m3": True}, {"demand.daily_m3": ["Must be a number in m³/d."]}),
        (
            UtilityType.WATER,
            {"meter_diameter_mm": 30},
            {
                "demand.meter_diameter_mm": [
                    "Must be one of: 15 mm, 20 mm, 25 mm, 40 mm, 50 mm, 80 mm, 100 mm, 150 mm, 200 mm, 300 mm."
                ]
            },
        ),
        (UtilityType.WATER, {"meter_diameter_mm": 100.5}, {"demand.meter_diameter_mm": ["Must be a whole number."]}),
        (
            UtilityType.WATER,
            {"supply_mode": "well"},
            {"demand.supply_mode": ["Must be one of: municipal_direct, booster, roof_tank."]},
        ),
        (
            UtilityType.WATER,
            {"use_type": "farm"},
            {"demand.use_type": ["Must be one of: domestic, industrial, commercial, fire."]},
        ),
        (UtilityType.WATER, {"households": -1}, {"demand.households": ["Must be at least 0."]}),
        (UtilityType.WATER, {"buildings": 0}, {"demand.buildings": ["Must be at least 1."]}),
        (UtilityType.WATER, {"floors": 201}, {"demand.floors": ["Must be at most 200."]}),
        (UtilityType.WATER, {"floors": 0}, {"demand.floors": ["Must be at least 1."]}),
        (UtilityType.WATER, {"daily_m3": ...}, {"demand.daily_m3": ["Required (日用水量, m³/d)."]}),
        # power
        (UtilityType.POWER, {"capacity_kva": 0}, {"demand.capacity_kva": ["Must be greater than 0 kVA."]}),
        (UtilityType.POWER, {"capacity_kva": 2e6}, {"demand.capacity_kva": ["Must be at most 1000000 kVA."]}),
        (UtilityType.POWER, {"voltage_kv": 220}, {"demand.voltage_kv": ["Must be one of: 0.4 kV, 10 kV, 35 kV."]}),
        (UtilityType.POWER, {"supply": "triple"}, {"demand.supply": ["Must be one of: single, dual."]}),
        (UtilityType.POWER, {"load_class": 4}, {"demand.load_class": ["Must be one of: 1, 2, 3."]}),
        (UtilityType.POWER, {"is_addition": "no"}, {"demand.is_addition": ["Must be true or false."]}),
        (UtilityType.POWER, {"metering": ...}, {"demand.metering": ["Required (计量方式)."]}),
        # gas
        (UtilityType.GAS, {"peak_m3h": 0}, {"demand.peak_m3h": ["Must be greater than 0 m³/h."]}),
        (UtilityType.GAS, {"annual_m3": -1}, {"demand.annual_m3": ["Must be greater than 0 m³."]}),
        (UtilityType.GAS, {"pressure": "high"}, {"demand.pressure": ["Must be one of: low, medium."]}),
        # heating
        (UtilityType.HEATING, {"heat_load_kw": 0}, {"demand.heat_load_kw": ["Must be greater than 0 kW."]}),
        (UtilityType.HEATING, {"heated_area_m2": ...}, {"demand.heated_area_m2": ["Required (供热面积, m²)."]}),
        (UtilityType.HEATING, {"medium": "oil"}, {"demand.medium": ["Must be one of: hot_water, steam."]}),
        # telecom
        (
            UtilityType.TELECOM,
            {"ports": 0, "fibre_pairs": 0},
            {"demand.ports": ["At least one of ports, fibre_pairs must be greater than 0."]},
        ),
        (
            UtilityType.TELECOM,
            {"ports": ..., "fibre_pairs": ...},
            {"demand.ports": ["At least one of ports, fibre_pairs must be greater than 0."]},
        ),
        (UtilityType.TELECOM, {"ports": -3}, {"demand.ports": ["Must be at least 0."]}),
        (
            UtilityType.TELECOM,
            {"operators": []},
            {
                "demand.operators": [
                    "Must be a non-empty list of: china_mobile, china_unicom, china_telecom, china_broadnet."
                ]
            },
        ),
        (
            UtilityType.TELECOM,
            {"operators": ["china_unicom", "att"]},
            {
                "demand.operators": [
                    "Unknown value 'att'; choose from: china_mobile, china_unicom, china_telecom, china_broadnet."
                ]
            },
        ),
        (
            UtilityType.TELECOM,
            {"operators": ["china_unicom", "china_unicom"]},
            {"demand.operators": ["Each value may appear once."]},
        ),
    ],
)
def test_invalid_demand_is_refused_with_field_errors(utility_type, changes, expected):
    assert errors_of(utility_type, with_changes(utility_type, **changes)) == expected


def test_unknown_keys_are_refused():
    errors = errors_of(UtilityType.GAS, with_changes(UtilityType.GAS, colour="blue"))
    assert errors == {"demand.colour": ["Unknown field; allowed: peak_m3h, annual_m3, pressure."]}


def test_every_problem_is_reported_at_once():
    errors = errors_of(UtilityType.HEATING, {"heat_load_kw": -1, "extra": 1})
    assert sorted(errors) == [
        "demand.extra",
        "demand.heat_load_kw",
        "demand.heated_area_m2",
        "demand.medium",
    ]


def test_demand_must_be_an_object():
    assert errors_of(UtilityType.WATER, [1, 2]) == {"demand": ["Must be a JSON object."]}


def test_optional_households_may_be_left_out():
    demand = with_changes(UtilityType.WATER, households=...)
    assert validate_demand(utility_type=UtilityType.WATER, demand=demand) == demand


def test_point_attributes_are_optional_but_checked():
    assert validate_attributes(utility_type=UtilityType.POWER, attributes={}) == {}
    assert validate_attributes(
        utility_type=UtilityType.POWER, attributes={"voltage_kv": 10, "pole_id": " N12-07 "}
    ) == {"voltage_kv": 10, "pole_id": "N12-07"}
    with pytest.raises(ValidationFailed) as caught:
        validate_attributes(utility_type=UtilityType.WATER, attributes={"pipe_diameter_mm": 5, "voltage_kv": 10})
    assert caught.value.errors == {
        "attributes.voltage_kv": [
            "Unknown field; allowed: pipe_diameter_mm, pipe_material, pressure_mpa, capacity_m3d."
        ],
        "attributes.pipe_diameter_mm": ["Must be at least 15 mm."],
    }


@pytest.mark.parametrize("utility_type", UtilityType.values)
def test_single_request_with_invalid_demand_leaves_no_row(world, utility_type):
    demand = with_changes(utility_type, unexpected=1)
    with pytest.raises(ValidationFailed) as caught:
        utility_request_create(
            case=world.case, site=world.site, utility_type=utility_type, demand=demand, by=world.official
        )
    assert caught.value.errors == {
        "demand.unexpected": [f"Unknown field; allowed: {', '.join(VALID_DEMANDS[utility_type])}."]
    }
    assert UtilityRequest.all_objects.count() == 0
    assert list(world.case.assigned_organizations.all()) == [world.surveyor.organization]


def test_application_with_one_invalid_demand_leaves_no_row(world):
    demands = {**VALID_DEMANDS, UtilityType.GAS: with_changes(UtilityType.GAS, peak_m3h=0)}
    with pytest.raises(ValidationFailed) as caught:
        utility_application_create(case=world.case, site=world.site, demands=demands, by=world.official)
    assert caught.value.errors == {"demands.gas.peak_m3h": ["Must be greater than 0 m³/h."]}
    assert UtilityApplication.all_objects.count() == 0
    assert UtilityRequest.all_objects.count() == 0
    assert list(world.case.assigned_organizations.all()) == [world.surveyor.organization]
