"""Test doubles and helpers for the dialog policy tests (no tests in here).

* ``FakeCalendar`` is a TEST DOUBLE of the CRM tools (voice.bridge.crm_tools.CrmTools behind the ``Tools``
  protocol): an in-memory calendar of free slots with injectable "taken" slots and timeouts.
* ``phrasebook_parse`` is a TEST DOUBLE of voice.bridge.timeprefs.parse: a handful of utterances mapped to
  hand-built TimeConstraint objects, everything else "unsure".
* ``Conversation`` plays callee lines through a policy the way a provider does (the full transcript on
  every request) and records what came back."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from voice.bridge.dialog.timetalk import TimeTalk, default_timetalk
from voice.bridge.dialog.types import (
    Booking,
    Callee,
    SlotChoice,
    SlotOffer,
    Speech,
    ToolRecord,
    ToolTimeout,
    Turn,
    TurnDone,
    TurnKind,
    TurnRequest,
    TurnResult,
)
from voice.bridge.timeprefs.constraint import TimeConstraint, TimeWindow

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2030, 12, 16, 10, 0, tzinfo=BERLIN)  # a Monday
THU = date(2030, 12, 19)
FRI = date(2030, 12, 20)
TUE = date(2030, 12, 17)

PHRASEBOOK = {
    "gerne, nächsten donnerstag ab 16 uhr.": TimeConstraint(dates=(THU,), windows=(TimeWindow(time(16), None),)),
    "sure, next thursday after 4 pm.": TimeConstraint(
        dates=(THU,), windows=(TimeWindow(time(16), None),), language="en"
    ),
    "doch lieber freitag vormittag.": TimeConstraint(dates=(FRI,), windows=(TimeWindow(time(8), time(12)),)),
    "actually, friday morning would be better.": TimeConstraint(
        dates=(FRI,), windows=(TimeWindow(time(8), time(12)),), language="en"
    ),
    "gerade schlecht, rufen sie mich morgen vormittag nochmal an.": TimeConstraint(
        dates=(TUE,), windows=(TimeWindow(time(8), time(12)),)
    ),
    "bad time, call me back tomorrow morning.": TimeConstraint(
        dates=(TUE,), windows=(TimeWindow(time(8), time(12)),), language="en"
    ),
    "rufen sie mich morgen an.": TimeConstraint(dates=(TUE,)),
    "donnerstag um 17 uhr bitte.": TimeConstraint(dates=(THU,), exact=time(17)),
}


def phrasebook_parse(text: str, language: str, now: datetime) -> TimeConstraint:
    found = PHRASEBOOK.get(" ".join(text.lower().split()))
    return found if found is not None else TimeConstraint(raw=text, language=language, unsure=True)


# The real slot renderer and reader (voice.bridge.timeprefs.speak) with the phrasebook parser.
_REAL = default_timetalk()
FAKE_TIMETALK = TimeTalk(parse=phrasebook_parse, render=_REAL.render, read_back=_REAL.read_back)


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=BERLIN)


DEFAULT_FREE = (at(TUE, 9), at(TUE, 14), at(THU, 10), at(THU, 16, 30), at(THU, 17), at(FRI, 9, 30), at(FRI, 11))


@dataclass
class FakeCalendar:
    """TEST DOUBLE of the CRM tools: free slots in memory; ``taken`` slots are grabbed by someone else at the
    moment we book them; tool names in ``timeouts`` raise ToolTimeout; bookings are idempotent per slot start
    (like voice.bridge.booking's call+slot key)."""

    free: list[datetime] = field(default_factory=lambda: list(DEFAULT_FREE))
    taken: set[datetime] = field(default_factory=set)
    timeouts: set[str] = field(default_factory=set)
    duration: timedelta = timedelta(minutes=30)
    calls: list[tuple[str, object]] = field(default_factory=list)
    booked: dict[datetime, int] = field(default_factory=dict)
    opt_outs: list[str] = field(default_factory=list)
    qualification: dict[str, str] = field(default_factory=dict)

    def _enter(self, name: str, argument: object) -> None:
        self.calls.append((name, argument))
        if name in self.timeouts:
            raise ToolTimeout(name)

    def _open(self) -> list[datetime]:
        return sorted(s for s in self.free if s not in self.booked)

    async def find_slots(self, constraint: TimeConstraint) -> SlotOffer:
        self._enter("find_slots", constraint)
        open_ = self._open()
        if constraint.empty:
            return SlotOffer(None, tuple(self._choice(s) for s in open_[:3]))
        fits = [s for s in open_ if constraint.allows(s, s + self.duration)]
        if constraint.exact is not None:
            fits.sort(key=lambda s: (s.time() != constraint.exact, s))
        if fits:
            return SlotOffer(self._choice(fits[0]), ())
        return SlotOffer(None, tuple(self._choice(s) for s in open_[:3]))

    def _choice(self, start: datetime) -> SlotChoice:
        return SlotChoice(start, start + self.duration, owner_id=7)

    async def book(self, slot: SlotChoice) -> Booking:
        self._enter("book", slot)
        if slot.start in self.booked:
            return Booking("already_booked", self.booked[slot.start], slot.start, slot.end)
        if slot.start in self.taken:
            self.free = [s for s in self.free if s != slot.start]
            return Booking("taken")
        if slot.start not in self.free:
            return Booking("failed")
        self.booked[slot.start] = 100 + len(self.booked)
        return Booking("booked", self.booked[slot.start], slot.start, slot.end)

    async def record_qualification(self, answers: dict[str, str]) -> None:
        self._enter("record_qualification", dict(answers))
        self.qualification.update(answers)

    async def record_opt_out(self, reason: str) -> None:
        self._enter("record_opt_out", reason)
        self.opt_outs.append(reason)

    async def record_callback(self, window: TimeConstraint) -> None:
        self._enter("record_callback", window)

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]


ANNA = Callee(lead_id=12, first_name="Anna", last_name="Weber", company="Weber GmbH", language="de")
ANNE = Callee(lead_id=13, first_name="Anne", last_name="Walker", company="Walker Ltd", language="en")
CLAIRE = Callee(lead_id=14, first_name="Claire", last_name="Dubois", company="Dubois SA", language="fr")
CALLEES = {"de": ANNA, "en": ANNE, "fr": CLAIRE}


@dataclass
class Reply:
    chunks: list[str]
    records: list[ToolRecord]
    result: TurnResult
    events: list

    @property
    def text(self) -> str:
        return "".join(self.chunks).strip()


async def respond(
    policy,
    transcript: list[Turn] | tuple[Turn, ...],
    tools,
    *,
    callee: Callee = ANNA,
    kind: TurnKind = TurnKind.RESPONSE,
    transfer_number: str | None = None,
    call_id: str = "call-1",
    callback_number: str | None = None,
) -> Reply:
    request = TurnRequest(
        call_id=call_id,
        provider="retell",
        kind=kind,
        transcript=tuple(transcript),
        callee=callee,
        now=NOW,
        company_name="Leadchain",
        transfer_number=transfer_number,
        callback_number=callback_number,
    )
    events = [e async for e in policy.respond(request, tools)]
    assert isinstance(events[-1], TurnDone), events
    assert sum(isinstance(e, TurnDone) for e in events) == 1
    return Reply(
        [e.text for e in events if isinstance(e, Speech)],
        [e for e in events if isinstance(e, ToolRecord)],
        events[-1].result,
        events,
    )


@dataclass
class Conversation:
    """Plays a call: BEGIN, then one callee line per RESPONSE (None = silence, a REMINDER)."""

    policy: object
    tools: object
    callee: Callee = ANNA
    transfer_number: str | None = None
    transcript: list[Turn] = field(default_factory=list)
    replies: list[Reply] = field(default_factory=list)

    async def begin(self) -> Reply:
        return await self._turn(TurnKind.BEGIN)

    async def hear(self, line: str | None) -> Reply:
        if line is None:
            return await self._turn(TurnKind.REMINDER)
        self.transcript.append(Turn("user", line))
        return await self._turn(TurnKind.RESPONSE)

    async def _turn(self, kind: TurnKind) -> Reply:
        reply = await respond(
            self.policy,
            self.transcript,
            self.tools,
            callee=self.callee,
            kind=kind,
            transfer_number=self.transfer_number,
        )
        if reply.text:
            self.transcript.append(Turn("agent", reply.text))
        self.replies.append(reply)
        return reply

    async def play(self, lines: list[str | None]) -> Reply:
        reply = await self.begin()
        for line in lines:
            assert not reply.result.end_call, f"the call ended before {line!r}"
            reply = await self.hear(line)
        return reply
