"""A serializer's validation of input it fully understands, without DRF's per-field machinery.

`FastParser(serializer)` is compiled from a bound serializer's own declared fields (its
`_writable_fields`, their validators, its `validate_<field>` methods, its validators and its
`validate`): there is no second list of fields to keep. `parse(data)` returns exactly the
`validated_data` the serializer's `is_valid()` would, or None ("declined") for anything it does
not fully understand or that is not valid: a key that is not a writable field, a value of
another type than the plain one, a blank, a value a validator refuses, an error of any field or
of the serializer's `validate`. The caller then validates the ordinary way, so every error
(body, code, order) is the one DRF gives: the fast path never produces an error of its own.

It only skips what costs and decides nothing for valid input: per field `run_validation`'s
empty-value checks and error collection, and for the plain field types (CharField, UUIDField)
their conversion and the validators DRF always adds (max length, NUL, surrogates), checked here
with the same rules. Every other field (related fields, geometries, dates, choices …) is
converted by its own `to_internal_value` (and its own validators), or, where its class overrides
`run_validation`, by its own `run_validation`.
"""

import re
import uuid
from collections.abc import Callable
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import MaxLengthValidator, ProhibitNullCharactersValidator
from rest_framework import fields as drf_fields
from rest_framework import relations, serializers
from rest_framework.exceptions import ValidationError
from rest_framework.fields import SkipField, empty
from rest_framework.validators import ProhibitSurrogateCharactersValidator

__all__ = ["FastParser"]

_SURROGATE = re.compile("[\ud800-\udfff]")


class _Decline(Exception):
    """Not for the fast path: validate the ordinary way."""


def _generic_validator(validator: Any, field: drf_fields.Field) -> Callable[[Any], None]:
    """A validator as Field.run_validators calls it; any refusal declines."""
    if getattr(validator, "requires_context", False):

        def check(value: Any) -> None:
            validator(value, field)

    else:
        check = validator
    return check


def _char_validator(validator: Any, field: drf_fields.Field) -> Callable[[str], None] | None:
    """The validators DRF's CharField always has, as plain checks of a str (None: no check
    needed); others are called as they are."""
    kind = type(validator)
    if kind is MaxLengthValidator and not callable(validator.limit_value):
        limit = validator.limit_value

        def check(value: str) -> None:
            if len(value) > limit:
                raise _Decline

        return check
    if kind is ProhibitNullCharactersValidator:

        def check(value: str) -> None:
            if "\x00" in value:
                raise _Decline

        return check
    if kind is ProhibitSurrogateCharactersValidator:

        def check(value: str) -> None:
            if _SURROGATE.search(value):
                raise _Decline

        return check
    return _generic_validator(validator, field)


def _with_validators(convert: Callable[[Any], Any], checks: list[Callable[[Any], None]]) -> Callable[[Any], Any]:
    if not checks:
        return convert

    def converted_and_checked(data: Any) -> Any:
        value = convert(data)
        for check in checks:
            check(value)
        return value

    return converted_and_checked


def _char_converter(field: serializers.CharField) -> Callable[[Any], Any]:
    """CharField.run_validation for a str: blank handling, strip, its validators."""
    trim, allow_blank = field.trim_whitespace, field.allow_blank
    checks = [_char_validator(validator, field) for validator in field.validators]

    def convert(data: Any) -> str:
        if type(data) is not str:
            raise _Decline  # numbers are coerced by DRF: its way
        value = data.strip() if trim else data
        if not value:  # '' (or only whitespace, trimmed): '' without validators, or 'blank'
            if not allow_blank:
                raise _Decline
            return ""
        for check in checks:
            check(value)
        return value

    return convert


def _uuid_converter(field: serializers.UUIDField) -> Callable[[Any], Any]:
    def convert(data: Any) -> uuid.UUID:
        if type(data) is not str:
            raise _Decline
        try:
            return uuid.UUID(hex=data)
        except ValueError:
            raise _Decline from None

    return _with_validators(convert, [_generic_validator(v, field) for v in field.validators])


def _converter(field: drf_fields.Field) -> Callable[[Any], Any]:
    """What `field.run_validation(data)` returns for data that is neither missing nor None."""
    kind = type(field)
    if kind is serializers.CharField:
        return _char_converter(field)
    if kind is serializers.UUIDField and field.uuid_format == "hex_verbose":
        return _uuid_converter(field)
    run_validation = kind.run_validation
    checks = [_generic_validator(v, field) for v in field.validators]
    if run_validation is drf_fields.Field.run_validation:
        return _with_validators(field.to_internal_value, checks)  # its own conversion, validators
    if run_validation is relations.RelatedField.run_validation:
        convert = field.to_internal_value  # (an instance may carry its own, e.g. a per-chunk lookup)

        def related(data: Any) -> Any:
            if data == "":
                raise _Decline  # DRF turns '' into None first: its way
            return convert(data)

        return _with_validators(related, checks)
    return field.run_validation  # a class with its own run_validation: exactly that


class FastParser:
    """Compiled once from a bound serializer (reused with `bound_again`); see the module."""

    def __init__(self, serializer: serializers.Serializer) -> None:
        self.serializer = serializer
        self.steps: list[tuple[str, str, drf_fields.Field, Callable, Callable | None]] = []
        kind = type(serializer)
        # Only DRF's own Serializer.run_validation / to_internal_value are what this stands for.
        self.usable = (
            not getattr(serializer, "partial", False)
            and kind.run_validation is serializers.Serializer.run_validation
            and kind.to_internal_value is serializers.Serializer.to_internal_value
            and kind.validate_empty_values is drf_fields.Field.validate_empty_values
        )
        for field in serializer._writable_fields:
            if field.source == "*" or len(field.source_attrs) != 1:
                self.usable = False  # nested sources: DRF's set_value
                break
            validate_method = getattr(serializer, "validate_" + field.field_name, None)
            self.steps.append((field.field_name, field.source_attrs[0], field, _converter(field), validate_method))
        self.known = frozenset(name for name, *_ in self.steps)
        self.has_validators = (
            bool(serializer.validators) or kind.run_validators is not serializers.Serializer.run_validators
        )
        # The serializer's own validate(): left out when it is Serializer.validate (returns attrs).
        validate = type(serializer).validate
        self.validate = None if validate is serializers.Serializer.validate else serializer.validate

    def parse(self, data: Any) -> dict[str, Any] | None:
        """The serializer's validated_data for `data`, or None: validate it the ordinary way."""
        if not self.usable or type(data) is not dict or not self.known.issuperset(data):
            return None  # not an object, or a key DRF would ignore or refuse: its way
        ret: dict[str, Any] = {}
        try:
            for name, source, field, convert, validate_method in self.steps:
                value = data.get(name, empty)
                if value is empty or value is None:
                    try:
                        is_empty, value = field.validate_empty_values(value)
                    except SkipField:
                        continue
                    if not is_empty:
                        return None  # (only source='*' fields, which are not compiled)
                else:
                    value = convert(value)
                if validate_method is not None:
                    value = validate_method(value)
                ret[source] = value
            if self.has_validators:
                self.serializer.run_validators(ret)
            if self.validate is not None:
                ret = self.validate(ret)
        except (_Decline, ValidationError, DjangoValidationError):
            return None
        except SkipField:
            return None  # a validate_<field> or converter skipping: DRF's way decides
        return ret if ret is not None else None
