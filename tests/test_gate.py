"""Router gates (handlers/gate.py): derived from the handlers' filters, and never decline an
update that one of the router's handlers would take."""
from __future__ import annotations

import itertools
from typing import Any

import pytest
from aiogram import BaseMiddleware, Bot, F
from aiogram.dispatcher.event.bases import UNHANDLED
from aiogram.filters import Command, CommandStart, StateFilter
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Message

from handlers import routers, texts
from handlers.gate import GatedRouter

BOT = Bot("123456:TEST-TOKEN")


class Form(StatesGroup):
    one = State()
    two = State()


def message(text: str | None = None, *, caption: str | None = None, contact: bool = False) -> Message:
    data: dict[str, Any] = {"message_id": 1, "date": 0, "chat": {"id": 5, "type": "private"},
                            "from": {"id": 5, "is_bot": False, "first_name": "Uji"}}
    if text is not None:
        data["text"] = text
    if caption is not None:
        data["caption"] = caption
        data["document"] = {"file_id": "f", "file_unique_id": "u"}
    if contact:
        data["contact"] = {"phone_number": "0812", "first_name": "Uji", "user_id": 5}
    return Message.model_validate(data, context={"bot": BOT})


def callback(data: str | None) -> CallbackQuery:
    return CallbackQuery.model_validate(
        {"id": "1", "chat_instance": "1", "data": data, "from": {"id": 5, "is_bot": False, "first_name": "Uji"},
         "message": {"message_id": 1, "date": 0, "chat": {"id": 5, "type": "private"}, "text": "x"}},
        context={"bot": BOT})


async def noop(*_: Any) -> None:
    return None


def sealed(build) -> GatedRouter:  # noqa: ANN001
    router = GatedRouter(name="t")
    build(router)
    router.seal()
    return router


def test_gate_collects_each_handlers_necessary_condition() -> None:
    def build(r: GatedRouter) -> None:
        r.message(F.text == "Menu A")(noop)
        r.message(F.text.in_({"Menu B", "Menu C"}))(noop)
        r.message(Command("cuti"))(noop)
        r.message(Form.one, F.text)(noop)
        r.message(StateFilter(Form))(noop)
        r.message(F.contact)(noop)
        r.callback_query(F.data.startswith(("x:", "y:")))(noop)
        r.callback_query(F.data == "z")(noop)

    gate = sealed(build).gates
    m, cb = gate["message"], gate["callback_query"]
    assert not m.open and not cb.open
    assert m.texts == {"Menu A", "Menu B", "Menu C"}
    assert m.command_prefixes == {"/"}
    assert m.states == {"Form:one", "Form:two"}
    assert m.non_text
    assert cb.data == {"z"} and set(cb.data_prefixes) == {"x:", "y:"}

    assert m.admits(message("Menu B"), None)
    assert m.admits(message(" /cuti@asnbot 3"), None)  # aiogram strips before reading a command
    assert m.admits(message(caption="/cuti"), None)  # commands are read from captions too
    assert m.admits(message("apa saja"), "Form:two")
    assert m.admits(message(contact=True), None)
    assert not m.admits(message("syarat kenaikan pangkat"), None)
    assert not m.admits(message("Menu Z"), "Other:state")
    assert m.admits(message(caption="foto KTP"), None)  # coarse: any non-text message may be a contact
    text_only = sealed(lambda r: r.message(Command("cuti"))(noop)).gates["message"]
    assert not text_only.admits(message(caption="foto KTP"), None)
    assert not text_only.admits(message(contact=True), None)
    assert cb.admits(callback("x:1"), None) and cb.admits(callback("z"), None)
    assert not cb.admits(callback("zz"), None) and not cb.admits(callback(None), None)


@pytest.mark.parametrize("unrecognised", [
    lambda r: r.message()(noop),  # no filter at all
    lambda r: r.message(F.text.startswith("/"))(noop),
    lambda r: r.message(F.text.lower() == "x")(noop),
    lambda r: r.message(lambda m: True)(noop),
    lambda r: r.message(StateFilter("*"))(noop),
    lambda r: r.message(F.text == F.caption)(noop),  # compared with another field, not a constant
])
def test_a_handler_without_a_recognised_condition_leaves_the_router_open(unrecognised) -> None:  # noqa: ANN001
    def build(r: GatedRouter) -> None:
        r.message(F.text == "Menu A")(noop)
        unrecognised(r)

    assert sealed(build).gates["message"].open


async def test_declined_updates_cost_nothing_and_middlewares_keep_routing_ungated() -> None:
    seen: list[str] = []

    class Spy(BaseMiddleware):
        async def __call__(self, handler, event, data):  # noqa: ANN001, ANN204
            seen.append("spy")
            return await handler(event, data)

    plain = sealed(lambda r: r.message(F.text == "Menu A")(noop))
    assert await plain.propagate_event("message", message("pertanyaan bebas"), raw_state=None) is UNHANDLED

    watched = GatedRouter(name="w")
    watched.message(F.text == "Menu A")(noop)
    watched.message.outer_middleware(Spy())
    watched.seal()
    assert "message" not in watched.gates
    await watched.propagate_event("message", message("pertanyaan bebas"), raw_state=None)
    assert seen == ["spy"]


def _samples(gates: list[Any]) -> tuple[list[Message], list[CallbackQuery], list[str | None]]:
    """Updates built from every router's own texts, states and callback data, and their near misses."""
    texts_, states, data = set(), {None, "Unknown:state"}, {"", "kb:a:x", "nothing"}
    for gate in gates:
        texts_ |= gate.texts
        states |= gate.states
        data |= gate.data | {p + "1" for p in gate.data_prefixes} | {p[:-1] for p in gate.data_prefixes if len(p) > 1}
    commands = ["/start", "/start v-ABC", "/batal", "/cuti", "/tanya", "/queue", "/broadcast", "/plh", "/pengaturan",
                "/unknown", " /menu"]
    msgs = [message(t) for t in sorted(texts_) + commands + ["syarat kenaikan pangkat", "12 Januari 2027", "Ya"]]
    msgs += [message(contact=True), message(caption="/cuti"), message(caption="lampiran")]
    return msgs, [callback(d) for d in sorted(data)], sorted(states, key=str)


async def _matches(router: GatedRouter, kind: str, event: Any, raw_state: str | None) -> bool:
    kwargs = {"raw_state": raw_state, "bot": BOT, "helpdesk_chat_id": None, "admin_ids": frozenset(),
              "event_from_user": event.from_user, "event_chat": getattr(event, "chat", None)}
    for handler in router.observers[kind].handlers:
        ok, _ = await handler.check(event, **kwargs)
        if ok:
            return True
    return False


async def test_real_routers_never_decline_what_a_handler_would_take() -> None:
    built = [r for r in routers() if isinstance(r, GatedRouter)]
    assert len(built) > 10
    gated = [r for r in built for g in r.gates.values() if not g.open]
    assert {r.name for r in gated} >= {"cuti", "izin_belajar", "approval", "broadcast", "pengajuan", "start"}
    msgs, queries, states = _samples([g for r in built for g in r.gates.values()])
    declined = 0
    for router in built:
        for kind, events in (("message", msgs), ("callback_query", queries)):
            gate = router.gates.get(kind)
            if gate is None or gate.open:
                continue
            for event, raw_state in itertools.product(events, states):
                if gate.admits(event, raw_state):
                    continue
                declined += 1
                assert not await _matches(router, kind, event, raw_state), (router.name, kind, event, raw_state)
    assert declined > 1000  # the check above really ran


def test_free_text_reaches_tanya_past_gated_routers() -> None:
    question = message("syarat kenaikan pangkat")
    passed = [r.name for r in routers() if isinstance(r, GatedRouter)
              if r.gates.get("message") is None or r.gates["message"].admits(question, None)]
    # Only routers that may answer free text in no state look at it.
    assert passed == ["helpdesk", "tanya", "fallback"]
    assert texts.MENU_CUTI in next(r for r in routers() if r.name == "cuti").gates["message"].texts


def test_command_start_is_a_command() -> None:
    gate = sealed(lambda r: r.message(CommandStart())(noop)).gates["message"]
    assert gate.admits(message("/start abc"), None) and not gate.admits(message("start"), None)
