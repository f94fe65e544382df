"""A cheap pre-check per router, derived from its handlers' own filters.

aiogram offers an update to each router in turn and, inside it, checks every handler's filters
one by one; a free-text question (most updates) is checked against some sixty handlers of a
dozen routers before it reaches Tanya layanan, and that walk was about a third of the CPU such an
update cost. A :class:`GatedRouter` first asks its :class:`Gate` whether *any* of its handlers
could match and, if none could, declines at once.

The gate is computed from the handlers themselves, so it cannot fall out of step with them: for
each handler one filter that is a necessary condition is recognised (a state, an exact text, a
command, a non-text message such as a shared contact, an exact or prefixed callback data); a
handler with no recognised filter makes its router ungated for that kind of update. The gate
only ever declines updates that no handler of the router would have taken, so routing is the
same as without it (tests/test_gate.py checks both the derivation and that claim).
"""
from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from inspect import isclass
from typing import Any

from aiogram import Router
from aiogram.dispatcher.event.bases import UNHANDLED
from aiogram.dispatcher.event.handler import FilterObject, HandlerObject
from aiogram.filters import Command
from aiogram.filters.state import StateFilter
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Message, TelegramObject
from magic_filter import MagicFilter
from magic_filter.operations import CallOperation, ComparatorOperation, FunctionOperation, GetAttributeOperation
from magic_filter.util import in_op

# Message contents that never come with ``text``: a handler requiring one never takes a text message.
NON_TEXT_CONTENT = frozenset({"contact", "document", "photo", "video", "voice", "audio", "sticker", "location",
                              "animation", "video_note"})


@dataclass
class Gate:
    """Necessary conditions of a router's handlers for one kind of update (message or callback)."""

    open: bool = False  # some handler has no recognised condition: admit everything
    states: set[str | None] = field(default_factory=set)
    texts: set[str] = field(default_factory=set)
    command_prefixes: set[str] = field(default_factory=set)
    non_text: bool = False
    data: set[str] = field(default_factory=set)
    data_prefixes: tuple[str, ...] = ()

    def admits(self, event: TelegramObject, raw_state: str | None) -> bool:
        if self.open or raw_state in self.states:
            return True
        if isinstance(event, Message):
            text = event.text
            if text is None:
                if self.non_text:
                    return True
                text = event.caption  # commands are read from captions too
                if text is None:
                    return False
            elif text in self.texts:
                return True
            return bool(self.command_prefixes) and text.lstrip()[:1] in self.command_prefixes
        if isinstance(event, CallbackQuery):
            data = event.data
            return data is not None and (data in self.data or data.startswith(self.data_prefixes))
        return True  # other kinds are not gated

    def add(self, need: Any) -> None:
        kind, value = need
        if kind == "state":
            self.states |= value
        elif kind == "text":
            self.texts |= value
        elif kind == "command":
            self.command_prefixes |= set(value)
        elif kind == "non_text":
            self.non_text = True
        elif kind == "data":
            self.data |= value
        elif kind == "data_prefix":
            self.data_prefixes += tuple(value)


def _state_names(states: Iterable[Any]) -> set[str | None] | None:
    """Raw state names a StateFilter admits; None when it admits any state ("*")."""
    names: set[str | None] = set()
    for s in states:
        if s is None or isinstance(s, str):
            if s == "*":
                return None
            names.add(s)
        elif isinstance(s, State):
            if s.state == "*":
                return None
            names.add(s.state)
        elif isinstance(s, StatesGroup) or isclass(s) and issubclass(s, StatesGroup):
            names |= set(s.__all_states_names__)
        else:
            return None
    return names


def _constants(value: Any) -> set[str] | None:
    if isinstance(value, str):
        return {value}
    if isinstance(value, (AbstractSet, list, tuple)) and all(isinstance(v, str) for v in value):
        return set(value)  # a snapshot: handlers compare against constants (texts, dict keys)
    return None


def _magic_need(magic: MagicFilter) -> tuple[str, Any] | None:
    ops = magic._operations  # noqa: SLF001 - magic_filter's operations are its public data model
    if not ops or not isinstance(ops[0], GetAttributeOperation):
        return None
    attr = ops[0].name
    rest = ops[1:]
    if attr in NON_TEXT_CONTENT and not rest:
        return "non_text", True
    if attr not in {"text", "data"} or len(rest) not in {1, 2}:
        return None
    kinds = {"text": ("text", None), "data": ("data", "data_prefix")}[attr]
    op = rest[0]
    if len(rest) == 1 and isinstance(op, ComparatorOperation) and op.comparator.__name__ == "eq":
        values = _constants(op.right)
        return (kinds[0], values) if values is not None else None
    if len(rest) == 1 and type(op) is FunctionOperation and op.function is in_op and len(op.args) == 1:
        values = _constants(op.args[0])
        return (kinds[0], values) if values is not None else None
    if (len(rest) == 2 and kinds[1] and isinstance(op, GetAttributeOperation) and op.name == "startswith"
            and isinstance(rest[1], CallOperation) and len(rest[1].args) == 1 and not rest[1].kwargs):
        prefixes = rest[1].args[0]
        prefixes = (prefixes,) if isinstance(prefixes, str) else prefixes
        if isinstance(prefixes, tuple) and all(isinstance(p, str) for p in prefixes):
            return kinds[1], prefixes
    return None


def filter_need(f: FilterObject) -> tuple[str, Any] | None:
    """A necessary condition expressed by one filter, if it is of a kind recognised here."""
    cb = f.magic if f.magic is not None else f.callback
    if isinstance(cb, MagicFilter):
        return _magic_need(cb)
    if isinstance(cb, State):
        names = _state_names([cb])
        return ("state", names) if names is not None else None
    if isinstance(cb, StateFilter):
        names = _state_names(cb.states)
        return ("state", names) if names is not None else None
    if isinstance(cb, Command):  # CommandStart too
        return "command", cb.prefix
    return None


def handler_need(handler: HandlerObject) -> tuple[str, Any] | None:
    for f in handler.filters or ():
        need = filter_need(f)
        if need is not None:
            return need
    return None


def gate_for(handlers: Iterable[HandlerObject]) -> Gate:
    gate = Gate()
    for handler in handlers:
        need = handler_need(handler)
        if need is None:
            return Gate(open=True)
        gate.add(need)
    return gate


class GatedRouter(Router):
    """A Router that declines, before any filter runs, an update none of its handlers could take.

    Call :meth:`seal` once its handlers are registered; until then (and for update kinds other
    than messages and callback queries, or observers with middlewares) it routes as usual."""

    gates: dict[str, Gate]

    def __init__(self, *, name: str | None = None) -> None:
        super().__init__(name=name)
        self.gates = {}

    def seal(self) -> None:
        self.gates = {}
        for kind in ("message", "callback_query"):
            observer = self.observers[kind]
            if self.sub_routers or observer.outer_middleware or observer.middleware:
                continue  # a middleware may act even when no handler matches: route as usual
            self.gates[kind] = gate_for(observer.handlers)

    async def propagate_event(self, update_type: str, event: TelegramObject, **kwargs: Any) -> Any:
        gate = self.gates.get(update_type)
        if gate is not None and not gate.admits(event, kwargs.get("raw_state")):
            return UNHANDLED
        return await super().propagate_event(update_type, event, **kwargs)
