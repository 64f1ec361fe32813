"""The checks of AWS's ``statelint`` (a Ruby gem, not installable from PyPI) that cfn-lint's schema check (E3601)
does not make, for the state machines amishare generates: every ``Next``, ``Default`` and ``Catch`` target names a
state of its own scope; every state is reachable from ``StartAt``; a non-terminal state has somewhere to go; the
paths (``*Path`` fields, ``.$`` parameters, Choice variables) are JSONPath (``$`` or, for the context object,
``$$``); a Wait waits one way. Returns the problems, each naming the state."""

from __future__ import annotations

from typing import Any

TERMINAL = {"Succeed", "Fail"}
PATH_FIELDS = ("InputPath", "OutputPath", "ResultPath", "ItemsPath", "SecondsPath", "TimestampPath")


def problems(machine: dict[str, Any], where: str = "") -> list[str]:
    """Everything wrong with ``machine`` (a definition, or a Map's ItemProcessor)."""
    states: dict[str, Any] = machine.get("States", {})
    found: list[str] = []
    if machine.get("StartAt") not in states:
        found.append(f"{where}StartAt names no state: {machine.get('StartAt')!r}")
    for name, state in states.items():
        found += [f"{where}{name}: {p}" for p in _state(state, set(states))]
        processor = state.get("ItemProcessor") or state.get("Iterator")
        if processor is not None:
            found += problems(processor, f"{where}{name}/")
    reached = _reachable(machine)
    found += [f"{where}{name}: unreachable from StartAt" for name in states if name not in reached]
    return found


def _targets(state: dict[str, Any]) -> list[str]:
    targets = [state[k] for k in ("Next", "Default") if k in state]
    targets += [c["Next"] for c in state.get("Choices", []) if "Next" in c]
    targets += [c["Next"] for c in state.get("Catch", [])]
    return targets


def _state(state: dict[str, Any], names: set[str]) -> list[str]:
    found = [f"goes to no state {t!r}" for t in _targets(state) if t not in names]
    kind = state.get("Type")
    if kind not in TERMINAL and kind != "Choice" and not state.get("End") and "Next" not in state:
        found.append("neither End nor Next")
    if kind == "Choice" and not state.get("Choices"):
        found.append("a Choice without choices")
    if kind == "Wait" and sum(k in state for k in ("Seconds", "SecondsPath", "Timestamp", "TimestampPath")) != 1:
        found.append("a Wait must wait exactly one way")
    for field in PATH_FIELDS:
        value = state.get(field)
        if value is not None and not (isinstance(value, str) and value.startswith("$")):
            found.append(f"{field} is not a JSONPath: {value!r}")
    for choice in state.get("Choices", []):
        if not str(choice.get("Variable", "")).startswith("$"):
            found.append(f"a choice's Variable is not a JSONPath: {choice.get('Variable')!r}")
    found += _dynamic(state.get("Parameters", {}))
    found += _dynamic(state.get("ItemSelector", {}))
    return found


def _dynamic(parameters: Any) -> list[str]:
    """``key.$`` values must be paths (or intrinsic functions)."""
    found: list[str] = []
    if isinstance(parameters, dict):
        for key, value in parameters.items():
            if key.endswith(".$") and not (isinstance(value, str) and value.startswith(("$", "States."))):
                found.append(f"{key} is not a path: {value!r}")
            found += _dynamic(value)
    return found


def _reachable(machine: dict[str, Any]) -> set[str]:
    states, seen = machine.get("States", {}), set()
    todo = [machine.get("StartAt")]
    while todo:
        name = todo.pop()
        if name in seen or name not in states:
            continue
        seen.add(name)
        todo += _targets(states[name])
    return seen
