"""The inbound dialog's tools (issue 17), on top of voice.bridge.inbound_records: mixed into the CRM tools
(voice.bridge.crm_tools.CrmTools), so a call's turn gets one `tools` object whatever its direction.

Each runs its CRM function in a worker thread in the call's company's unit of work, with the filler and
the hard timeout of every CRM tool (crm_tools.ToolRunner)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from crm.tenancy.context import operator_scope
from voice.bridge import inbound_records
from voice.bridge.booking_results import SlotOffer
from voice.bridge.dialog.types import Booking, CallerAppointment, SlotChoice
from voice.bridge.offers import mark
from voice.bridge.timeprefs.constraint import TimeConstraint

log = logging.getLogger(__name__)

Runner = Callable[..., Awaitable[Any]]


class InboundTools:
    """The inbound dialog's actions. Expects the host (CrmTools) to give `ctx` (a CallContext), `now` and
    `_call(name, fn, *args)`."""

    # A voice.bridge.crm_tools.CallContext (named by the host, which this module must not import).
    ctx: Any
    now: datetime
    _call: Runner

    def _number(self) -> int:
        if self.ctx.inbound is None:
            raise LookupError(f"call {self.ctx.call_id} is not inbound")
        number: int = self.ctx.inbound.number_id
        return number

    async def move_slots(self, appointment: CallerAppointment, constraint: TimeConstraint) -> SlotOffer:
        offer: SlotOffer = await self._call(
            "move_slots",
            inbound_records.move_slots,
            appointment.appointment_id,
            self.ctx.inbound_lead_id,
            constraint,
            self.now,
        )
        return mark(constraint, offer)

    async def move(self, appointment: CallerAppointment, slot: SlotChoice) -> Booking:
        outcome: str = await self._call(
            "move",
            inbound_records.move,
            appointment.appointment_id,
            self.ctx.inbound_lead_id,
            appointment.sequence,
            slot.start,
            self.ctx.call_id,
        )
        if outcome in ("changed", "stale"):
            # "stale": this call moved it already (a replayed turn): the caller hears it is done.
            await self.outcome("rescheduled")
            return Booking("booked", appointment.appointment_id, slot.start, slot.end)
        return Booking("taken" if outcome == "taken" else "failed", appointment.appointment_id)

    async def cancel(self, appointment: CallerAppointment) -> bool:
        outcome: str = await self._call(
            "cancel",
            inbound_records.cancel,
            appointment.appointment_id,
            self.ctx.inbound_lead_id,
            appointment.sequence,
            self.ctx.call_id,
        )
        done = outcome in ("changed", "stale")
        if done:
            await self.outcome("cancelled")
        return done

    async def confirm_booking(self, booking: Booking) -> None:
        """The confirmation mail of a booking made in this call, queued once (inbound_records.confirm_booking)."""
        if booking.appointment_id is not None:
            await self._call("confirm_booking", inbound_records.confirm_booking, booking.appointment_id,
                             self.ctx.inbound_lead_id)  # fmt: skip

    async def knowledge(self, question: str) -> str | None:
        found: str | None = await self._call("knowledge", inbound_records.answer, self._number(), question)
        return found

    async def leave_task(self, kind: str, text: str) -> None:
        await self._call(
            "leave_task",
            inbound_records.leave_task,
            self.ctx.call_id,
            self.ctx.provider,
            self._number(),
            self.ctx.inbound_lead_id,
            kind,
            text,
            self.now,
        )

    async def outcome(self, outcome: str, *, needed_person: bool = False, callback_requested: bool = False) -> None:
        """The call's outcome for the KPIs; a failure is logged, never spoken (the caller was served)."""
        try:
            await self._call(
                "inbound_outcome",
                inbound_records.set_outcome,
                self.ctx.call_id,
                self.ctx.provider,
                outcome,
                needed_person=needed_person,
                callback_requested=callback_requested,
            )
        except Exception:  # noqa: BLE001 - a KPI row must not break the call
            log.exception("call %s: inbound outcome %s not recorded", self.ctx.call_id, outcome)


async def open_inbound(
    runner: Any, call_id: str, provider: str, metadata: dict[str, Any], now: datetime
) -> tuple[int | None, inbound_records.Opened | None]:
    """(company, the opened call) of an inbound call: the company in a short operator context, then the
    caller and the call's record in that company's unit of work. (None, None): the number is not found."""
    company: int | None = await runner.call(
        "company_for_inbound",
        inbound_records.company_for_inbound,
        dict(metadata),
        scope=operator_scope("voice-bridge", "find the company of an inbound call"),
    )
    if company is None:
        log.warning("inbound call %s: its number is not found; its tools will not reach the CRM", call_id)
        return None, None
    opened: inbound_records.Opened | None = None
    with contextlib.suppress(LookupError):
        opened = await runner.call(
            "open_inbound", inbound_records.open_call, call_id, provider, dict(metadata), now, company_id=company
        )
    return company, opened
