"""Pydantic field types for the catalogue's values (issue 28): a service code, a group name, a profile code,
each checked against the installed catalogue when a request, a file or an answer is read, and listed as an
enumeration of the catalogue's values in the JSON Schema and the OpenAPI document when they are generated."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from pydantic import PlainValidator, WithJsonSchema
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError

from provisioning.domain import catalogue
from provisioning.domain.model import Group, Profile, Service

V = TypeVar("V", Service, Group, Profile)


def known(cls: type[Service] | type[Group] | type[Profile]) -> list[str]:
    cat = catalogue.current()
    if cls is Service:
        return cat.codes()
    return [g.name for _, g in cat.groups()] if cls is Group else [x.code for _, x in cat.profiles()]


class _Schema(dict[str, Any]):
    """The enumeration read from the catalogue each time the schema is generated (not frozen at import)."""

    def __init__(self, cls: type[Service] | type[Group] | type[Profile]):
        super().__init__(type="string")
        self.cls = cls

    def __getitem__(self, key: str) -> Any:
        return known(self.cls) if key == "enum" else super().__getitem__(key)

    def keys(self) -> Any:
        return ["type", "enum"]

    def items(self) -> Any:
        return [("type", "string"), ("enum", known(self.cls))]

    def __iter__(self) -> Any:
        return iter(self.keys())

    def __len__(self) -> int:
        return 2

    def copy(self) -> JsonSchemaValue:
        return {"type": "string", "enum": known(self.cls)}


def _check(cls: type[V]) -> Callable[[Any], V]:
    def check(v: Any) -> V:
        if not isinstance(v, str):
            raise PydanticCustomError("string_type", "Input should be a valid string")
        allowed = known(cls)
        if v not in allowed:
            raise PydanticCustomError("enum", "Input should be {expected}",
                                      {"expected": " or ".join(f"'{x}'" for x in allowed)})
        return cls(v)
    return check


ServiceCode = Annotated[Service, PlainValidator(_check(Service)), WithJsonSchema(_Schema(Service))]
GroupName = Annotated[Group, PlainValidator(_check(Group)), WithJsonSchema(_Schema(Group))]
ProfileCode = Annotated[Profile, PlainValidator(_check(Profile)), WithJsonSchema(_Schema(Profile))]
