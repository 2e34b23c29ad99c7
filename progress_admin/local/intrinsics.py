"""The one resolver of CloudFormation intrinsic functions in template values (`!Ref`, `!Sub`, `!If`,
`!Join`, the condition functions), for `serve` and for the artifact smoke (scripts/artifact_smoke.py).

What a name resolves to is a `StackValues`: parameter values, and (only where a stand-in will do) pseudo
parameters and resource names. What it does not hold raises `Unresolvable`: only AWS can supply it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

PSEUDO_NO_VALUE = "AWS::NoValue"


class Unresolvable(Exception):
    """A template value that only AWS can supply (a resource attribute, a parameter without a local
    value, a pseudo parameter such as AWS::Region)."""


class _NoValue:
    """!Ref AWS::NoValue: the key is left out."""


NO_VALUE = _NoValue()


def as_text(value: Any) -> str:
    """A template scalar as CloudFormation passes it on: booleans lower case, lists comma-joined."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(as_text(item) for item in value)
    return str(value)


@dataclass(frozen=True)
class StackValues:
    """What the names in a template resolve to. `serve` has parameter values only (pseudo parameters and
    resources exist in AWS alone); the artifact smoke adds stand-ins for them, as a deploy would set."""

    template: dict[str, Any]
    parameters: Mapping[str, str]
    pseudo_parameters: Mapping[str, str] = field(default_factory=dict)
    # a resource's logical id as a stand-in for its physical name (the smoke); False: only AWS knows it
    resource_names_stand_in: bool = False

    def name(self, name: str) -> str:
        """The value of `!Ref name` / `${name}`."""
        if name in self.parameters:
            return self.parameters[name]
        if name in self.pseudo_parameters:
            return self.pseudo_parameters[name]
        if self.resource_names_stand_in and name in (self.template.get("Resources") or {}):
            return name.lower()
        raise Unresolvable(f"!Ref {name}")


def parameter_values(template: dict[str, Any], overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    """The local value of each parameter: its Default, or an override. A parameter with neither has
    no local value (it is AWS-only) and is absent."""
    declared = template.get("Parameters") or {}
    values: dict[str, str] = {}
    for name, spec in declared.items():
        if isinstance(spec, dict) and "Default" in spec:
            values[name] = as_text(spec["Default"])
    for name, value in (overrides or {}).items():
        if name not in declared:
            raise ValueError(f"template.yaml has no parameter {name!r}")
        values[name] = value
    return values


def resolve(value: Any, values: StackValues) -> Any:
    """Evaluate the intrinsic functions of a template value; raise Unresolvable for what `values`
    cannot supply. Scalars come back as text, `!Ref AWS::NoValue` as NO_VALUE."""
    if isinstance(value, bool | int | float):
        return as_text(value)
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return [resolve(item, values) for item in value]
    if not isinstance(value, dict) or len(value) != 1:
        raise Unresolvable(repr(value))
    ((function, argument),) = value.items()
    if function == "Ref":
        return NO_VALUE if argument == PSEUDO_NO_VALUE else values.name(argument)
    if function == "Fn::If":
        condition, when_true, when_false = argument
        return resolve(when_true if condition_holds(condition, values) else when_false, values)
    if function == "Fn::Sub":
        text, names = (argument, {}) if isinstance(argument, str) else argument
        local = {k: resolve(v, values) for k, v in names.items()}

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):  # ${!Literal} is written as ${Literal}
                return "${" + name[1:] + "}"
            return str(local[name]) if name in local else values.name(name)

        return re.sub(r"\$\{([^}]+)\}", substitute, text)
    if function == "Fn::Join":
        delimiter, items = argument
        resolved = resolve(items, values)
        if isinstance(resolved, str):  # a list parameter (CommaDelimitedList), held as its text
            resolved = resolved.split(",") if resolved else []
        return delimiter.join(as_text(item) for item in resolved)
    if function in ("Fn::Equals", "Fn::Not", "Fn::And", "Fn::Or", "Condition"):
        return as_text(condition_holds(value, values))
    raise Unresolvable(function)


def condition_holds(value: Any, values: StackValues) -> bool:
    """Whether a condition (its name in Conditions, or a condition function) holds for these values."""
    if isinstance(value, str):  # the name of a condition
        return condition_holds(values.template["Conditions"][value], values)
    ((function, argument),) = value.items()
    if function == "Condition":
        return condition_holds(argument, values)
    if function == "Fn::Equals":
        left, right = (as_text(resolve(item, values)) for item in argument)
        return left == right
    if function == "Fn::Not":
        return not condition_holds(argument[0], values)
    if function == "Fn::And":
        return all(condition_holds(item, values) for item in argument)
    if function == "Fn::Or":
        return any(condition_holds(item, values) for item in argument)
    raise Unresolvable(function)


def local_values(template: dict[str, Any], overrides: Mapping[str, str] | None = None) -> StackValues:
    """What `serve` resolves: the parameters' local values (Default or override), nothing of AWS."""
    return StackValues(template, parameter_values(template, overrides))


def choose_conditions(node: Any, values: StackValues) -> Any:
    """A template value as CloudFormation deploys it for these values: each `Fn::If` chosen and
    `!Ref AWS::NoValue` left out; every other intrinsic kept as it is, for AWS to resolve."""
    no_value = {"Ref": PSEUDO_NO_VALUE}
    if isinstance(node, list):
        return [item for item in (choose_conditions(item, values) for item in node) if item != no_value]
    if isinstance(node, dict):
        if list(node) == ["Fn::If"]:
            condition, when_true, when_false = node["Fn::If"]
            return choose_conditions(when_true if condition_holds(condition, values) else when_false, values)
        chosen = ((key, choose_conditions(value, values)) for key, value in node.items())
        return {key: value for key, value in chosen if value != no_value}
    return node
