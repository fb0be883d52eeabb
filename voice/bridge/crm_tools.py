"""The ``Tools`` the dialog policy acts through, on top of voice.bridge.booking (docs/voice-bridge.md §V4).

Each CRM call runs in a worker thread inside the Flask app context. When it has not answered after
``filler_after_s`` (default 0.4 s) a short filler is spoken into the current response ("Einen Moment,
ich schaue kurz in den Kalender…"), and past ``tool_timeout_s`` (default 3 s) ``ToolTimeout`` is raised
so the policy falls back ("I'll confirm by email"). The thread itself cannot be stopped: a booking that
completes after the timeout still counts, and still reaches the chain. Bookings are idempotent per call
and slot (booking.py), so a replayed turn books once. A callback the caller asked for in a window
(``record_callback``) goes to the chain in the background, as times in UTC resolved in the lead's zone
(chain_notify.callback_request): the call is ending, nothing waits for it.

Companies (docs/tenancy.md): a call's company is resolved once per (re)connection from a record we wrote
(the call's interaction, or the ledger row of the placed call: booking.company_for_call), in a short
operator context; every tool call (availability, booking, notes) then runs in that company's unit of work
in its worker thread, and the notices to the chain go from inside it (the leadchain-company header).
A call whose company is not found runs its tools with no company: they fail, and the dialog falls back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from temporalio.client import Client

from crm.extensions import db
from crm.models import Lead
from crm.services.calling_hours import zone_for
from crm.tenancy.context import operator_scope, unit_of_work
from voice.bridge import booking
from voice.bridge.booking_results import BookingResult, LeadFacts, SlotChoice, SlotOffer
from voice.bridge.chain_notify import callback_request, notify_booking, notify_callback
from voice.bridge.config import BridgeConfig
from voice.bridge.dialog import phrases
from voice.bridge.dialog.types import Booking, Callee, InboundCaller, Tools, ToolTimeout
from voice.bridge.inbound_records import is_inbound
from voice.bridge.inbound_tools import InboundTools, open_inbound
from voice.bridge.metrics import BridgeMetrics
from voice.bridge.offers import mark
from voice.bridge.timeprefs.constraint import TimeConstraint
from workflows.payloads import CallbackRequest, CallBooking

log = logging.getLogger(__name__)

Speaker = Callable[[str], Awaitable[None]]
# (chain_id, call_id, appointment_id): tells the lead's chain about a booking (chain_notify).
BookingNotifier = Callable[[str | None, str, int], Awaitable[Any]]
# (chain_id, request): tells the lead's chain the window the caller asked to be called back in.
CallbackNotifier = Callable[[str | None, CallbackRequest], Awaitable[Any]]

# Used when the dialog phrases have no filler (voice.bridge.dialog.phrases owns the wording otherwise).
FILLER = {"de": "Einen Moment, ich schaue kurz in den Kalender… ", "en": "One moment, let me check the calendar… "}


@dataclass(frozen=True)
class CallContext:
    """What the bridge knows about a call, rebuilt from the CRM on every (re)connection."""

    call_id: str
    provider: str
    callee: Callee = field(default_factory=Callee)
    chain_id: str | None = None
    # The company the call belongs to (resolved from our own records, never from the caller).
    company_id: int | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    # A call to one of the company's numbers (issue 17): what the inbound dialog knows, and the caller's lead.
    inbound: InboundCaller | None = None
    inbound_lead_id: int | None = None


class ToolsFactory(Protocol):
    """What the protocol servers need from the CRM side; tests inject their own."""

    async def context(self, call_id: str, provider: str, metadata: dict[str, Any]) -> CallContext: ...

    def tools(self, ctx: CallContext, *, speak: Speaker | None, now: datetime) -> Tools: ...

    # The bridge process closes its factory on the way out (workers.main), releasing its worker threads.
    def close(self) -> None: ...


class BookingBackend(Protocol):
    """The CRM functions the tools run in worker threads: voice.bridge.booking (a module satisfies this
    protocol), or a test's fake. They answer with the types of booking_results.py, used as they are."""

    def lead_for_call(self, call_id: str, provider: str, metadata: dict[str, Any] | None) -> LeadFacts | None: ...

    def find_slots(self, lead_id: int, constraint: TimeConstraint, now: datetime) -> SlotOffer: ...

    def book(
        self,
        lead_id: int,
        call_id: str,
        start: datetime,
        end: datetime,
        owner_id: int | None = None,
        *,
        offer_matched: bool | None = None,
    ) -> BookingResult: ...

    def record_qualification(self, lead_id: int, call_id: str, answers: dict[str, str]) -> Any: ...

    def record_opt_out(self, lead_id: int, call_id: str, reason: str) -> Any: ...


def filler_text(language: str) -> str:
    try:  # the dialog phrases own the wording; a phrase table without this language gets ours
        text = phrases.filler(language)
    except KeyError:
        text = ""
    if text:
        return text if text.endswith(" ") else text + " "
    return FILLER.get(language, FILLER["en"])


class ToolRunner:
    """Runs sync CRM functions off the event loop with the filler and the hard timeout."""

    def __init__(
        self, *, app: Any | None, executor: ThreadPoolExecutor, config: BridgeConfig, metrics: BridgeMetrics
    ) -> None:
        self.app = app
        self.executor = executor
        self.config = config
        self.metrics = metrics

    def _in_context(
        self, scope: contextlib.AbstractContextManager[Any], fn: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> Any:
        ctx = self.app.app_context() if self.app is not None else contextlib.nullcontext()
        # The scope is entered here, in the worker thread: run_in_executor does not carry the event loop's
        # context into it, and each tool call is a unit of work of its own.
        with ctx, scope:
            try:
                return fn(*args, **kwargs)
            finally:
                if self.app is not None:
                    _remove_session()

    async def call(
        self,
        name: str,
        fn: Callable[..., Any],
        *args: Any,
        speak: Speaker | None = None,
        spoken: list[bool] | None = None,
        language: str = "de",
        on_late: Callable[[Any], None] | None = None,
        company_id: int | None = None,
        scope: contextlib.AbstractContextManager[Any] | None = None,
        **kwargs: Any,
    ) -> Any:
        """fn(*args, **kwargs) in a thread, in `unit_of_work(company_id)` (no company: nothing
        company-owned is reachable) unless another `scope` is given. `spoken` (a one-item list shared per
        turn) keeps it to one filler per turn; `on_late` gets the result of a call that finished after the
        timeout."""
        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        unit = scope if scope is not None else unit_of_work(company_id)
        future = loop.run_in_executor(self.executor, lambda: self._in_context(unit, fn, *args, **kwargs))
        try:
            done, _ = await asyncio.wait({future}, timeout=self.config.filler_after_s)
            if not done:
                if speak is not None and not (spoken and spoken[0]):
                    if spoken is not None:
                        spoken[0] = True
                    self.metrics.fillers.labels(name).inc()
                    await speak(filler_text(language))
                remaining = self.config.tool_timeout_s - (time.perf_counter() - started)
                done, _ = await asyncio.wait({future}, timeout=max(0.0, remaining))
        except asyncio.CancelledError:
            # The turn was superseded while the tool ran: its result (a booking) still has to count.
            future.add_done_callback(lambda f: _late(name, f, started, on_late))
            raise
        if not done:
            self.metrics.tool_timeouts.labels(name).inc()
            log.warning("tool %s: no answer after %.1fs, falling back", name, self.config.tool_timeout_s)
            future.add_done_callback(lambda f: _late(name, f, started, on_late))
            raise ToolTimeout(name)
        self.metrics.tool_seconds.labels(name).observe(time.perf_counter() - started)
        return future.result()


def _late(name: str, future: asyncio.Future[Any], started: float, on_late: Callable[[Any], None] | None) -> None:
    if future.cancelled():
        return
    error = future.exception()
    log.info(
        "tool %s finished %.1fs after it started (past the timeout)%s",
        name,
        time.perf_counter() - started,
        f": {type(error).__name__}" if error else "",
    )
    if error is None and on_late is not None:
        on_late(future.result())


def _remove_session() -> None:
    with contextlib.suppress(Exception):
        db.session.remove()


def callee_of(facts: LeadFacts | None) -> Callee:
    return facts.callee() if facts is not None else Callee()


def lead_zone(lead_id: int) -> str:
    """The lead's zone (the number's own, else its region's; crm.services.calling_hours.zone_for): the
    frame of the times the caller says. Runs in a worker thread inside the app context."""
    lead = db.session.get(Lead, lead_id)
    if lead is None:
        raise LookupError(f"lead {lead_id} not found")
    return zone_for(lead.phone_timezone, lead.phone_region)


# ---- the implementation ------------------------------------------------------------------------------


class CrmTools(InboundTools):
    """Tools of one call during one turn (`speak` streams into that turn's response); an inbound call's
    dialog also uses the InboundTools' actions."""

    ctx: CallContext

    def __init__(self, factory: CrmToolsFactory, ctx: CallContext, *, speak: Speaker | None, now: datetime) -> None:
        self.factory = factory
        self.ctx = ctx
        self.speak = speak
        self.now = now
        self._spoken = [False]

    async def _call(
        self, name: str, fn: Callable[..., Any], *args: Any, on_late: Callable[[Any], None] | None = None, **kwargs: Any
    ) -> Any:
        return await self.factory.runner.call(
            name,
            fn,
            *args,
            speak=self.speak,
            spoken=self._spoken,
            language=self.ctx.callee.language,
            on_late=on_late,
            company_id=self.ctx.company_id,
            **kwargs,
        )

    @property
    def _lead_id(self) -> int:
        if self.ctx.callee.lead_id is None:
            raise LookupError(f"call {self.ctx.call_id}: no lead known")
        return self.ctx.callee.lead_id

    async def find_slots(self, constraint: TimeConstraint) -> SlotOffer:
        """The backend's offer with every slot checked against the constraint (offers.mark): whatever the
        backend answered, a slot reaches the dialog as matching only when it satisfies the wish."""
        backend = self.factory.backend
        offer: SlotOffer = await self._call("find_slots", backend.find_slots, self._lead_id, constraint, self.now)
        return mark(constraint, offer)

    async def book(self, slot: SlotChoice) -> Booking:
        backend = self.factory.backend
        lead_id, call_id = self._lead_id, self.ctx.call_id

        def tell_chain(result: BookingResult) -> None:
            # "already_booked" too: a replayed turn after a crash may be the first to reach the chain,
            # and the signal is idempotent (the chain keys bookings by call).
            if result.ok and result.appointment_id is not None:
                chain_id = result.chain_id or self.ctx.chain_id
                self.factory.spawn(self.factory.notify(self.ctx, result.appointment_id, chain_id))

        result: BookingResult = await self._call(
            "book",
            backend.book,
            lead_id,
            call_id,
            slot.start,
            slot.end,
            owner_id=slot.owner_id,
            offer_matched=slot.matches,
            on_late=tell_chain,
        )
        tell_chain(result)  # not awaited: the turn goes on speaking while Temporal is told (or is down)
        return result.as_booking()

    async def record_qualification(self, answers: dict[str, str]) -> None:
        await self._call(
            "record_qualification",
            self.factory.backend.record_qualification,
            self._lead_id,
            self.ctx.call_id,
            dict(answers),
        )

    async def record_opt_out(self, reason: str) -> None:
        await self._call("record_opt_out", self.factory.backend.record_opt_out, self._lead_id, self.ctx.call_id, reason)

    async def record_callback(self, window: TimeConstraint) -> None:
        """The call ends with a callback request in `window`: the chain is told in the background (no
        filler, no wait; a failure is logged and the chain makes its usual next-day callback)."""
        self.factory.spawn(self.factory.notify_callback(self.ctx, window, self.now))


class CrmToolsFactory:
    """Builds CallContexts and CrmTools over a booking backend (voice.bridge.booking unless injected)."""

    def __init__(
        self,
        app: Any | None,
        *,
        config: BridgeConfig,
        metrics: BridgeMetrics,
        backend: BookingBackend | None = None,
        notifier: BookingNotifier | None = None,
        callback_notifier: CallbackNotifier | None = None,
        zone_of_lead: Callable[[int], str] = lead_zone,
        max_threads: int = 16,
    ) -> None:
        if backend is None:
            backend = booking
        self.app = app
        self.backend: BookingBackend = backend
        self.notifier = notifier
        # A TemporalNotifier tells chains about callbacks too.
        if callback_notifier is None and isinstance(notifier, TemporalNotifier):
            callback_notifier = notifier.callback
        self.callback_notifier = callback_notifier
        self.zone_of_lead = zone_of_lead
        self.executor = ThreadPoolExecutor(max_workers=max_threads, thread_name_prefix="bridge-crm")
        self.runner = ToolRunner(app=app, executor=self.executor, config=config, metrics=metrics)
        self._pending: set[asyncio.Task[Any]] = set()

    async def _company(self, call_id: str, provider: str, metadata: dict[str, Any]) -> int | None:
        """The call's company (booking.company_for_call), in a short operator context. A backend without
        the lookup (a test's fake with no database) serves calls with no company."""
        resolve = getattr(self.backend, "company_for_call", None)
        if resolve is None:
            return None
        company: int | None = await self.runner.call(
            "company_for_call",
            resolve,
            call_id,
            provider,
            dict(metadata or {}),
            scope=operator_scope("voice-bridge", "find the company of a call"),
        )
        if company is None:
            log.warning("call %s: no company found for the call; its tools will not reach the CRM", call_id)
        return company

    async def context(self, call_id: str, provider: str, metadata: dict[str, Any]) -> CallContext:
        if is_inbound(metadata):
            return await self._inbound_context(call_id, provider, metadata)
        facts: LeadFacts | None = None
        company: int | None = None
        try:
            company = await self._company(call_id, provider, metadata)
            facts = await self.runner.call(
                "lead_for_call", self.backend.lead_for_call, call_id, provider, dict(metadata or {}), company_id=company
            )
        except ToolTimeout:
            log.warning("call %s: lead lookup timed out; speaking without the lead's name", call_id)
        except Exception:  # noqa: BLE001 - a broken lookup must not end the call
            log.exception("call %s: lead lookup failed", call_id)
        chain_id = (facts.chain_id if facts is not None else None) or (metadata or {}).get("chain_id")
        return CallContext(
            call_id=call_id,
            provider=provider,
            callee=callee_of(facts),
            chain_id=str(chain_id) if chain_id else None,
            metadata=dict(metadata or {}),
            company_id=company,
        )

    async def _inbound_context(self, call_id: str, provider: str, metadata: dict[str, Any]) -> CallContext:
        """A call to one of the company's numbers: its company from the number, the caller's lead (the
        webhook recognised or registered it) and what the inbound dialog needs (voice.bridge.inbound_tools)."""
        company: int | None = None
        opened = None
        facts: LeadFacts | None = None
        try:
            company, opened = await open_inbound(self.runner, call_id, provider, metadata, datetime.now(UTC))
            if opened is not None and opened.lead_id is not None:
                facts = await self.runner.call(
                    "lead_for_call", self.backend.lead_for_call, call_id, provider, dict(metadata), company_id=company
                )
        except ToolTimeout:
            log.warning("inbound call %s: caller lookup timed out; answering without their details", call_id)
        except Exception:  # noqa: BLE001 - a broken lookup must not leave the caller unanswered
            log.exception("inbound call %s: caller lookup failed", call_id)
        callee = callee_of(facts)
        if facts is None and opened is not None:
            callee = Callee(language=opened.language)
        return CallContext(
            call_id=call_id,
            provider=provider,
            callee=callee,
            chain_id=facts.chain_id if facts is not None else None,
            metadata=dict(metadata),
            company_id=company,
            inbound=opened.caller if opened is not None else None,
            inbound_lead_id=opened.lead_id if opened is not None else None,
        )

    def tools(self, ctx: CallContext, *, speak: Speaker | None, now: datetime) -> CrmTools:
        return CrmTools(self, ctx, speak=speak, now=now)

    async def notify(self, ctx: CallContext, appointment_id: int, chain_id: str | None = None) -> None:
        chain_id = chain_id or ctx.chain_id
        if self.notifier is None:
            log.info(
                "call %s booked appointment %s; no Temporal client, the webhook path tells the chain",
                ctx.call_id,
                appointment_id,
            )
            return
        try:
            with unit_of_work(ctx.company_id):  # the signal carries the call's company
                await self.notifier(chain_id, ctx.call_id, appointment_id)
        except Exception:  # noqa: BLE001 - Temporal down: the post-call webhook still reaches the chain
            log.exception("call %s: chain %s not told about appointment %s", ctx.call_id, chain_id, appointment_id)

    async def notify_callback(self, ctx: CallContext, window: TimeConstraint, now: datetime) -> None:
        """Resolve `window` in the lead's zone and signal the chain: times only, never the words said."""
        if self.callback_notifier is None or ctx.callee.lead_id is None:
            log.info("call %s: callback window not sent (no Temporal client or no lead)", ctx.call_id)
            return
        try:
            tz = await self.runner.call("lead_zone", self.zone_of_lead, ctx.callee.lead_id, company_id=ctx.company_id)
            request = callback_request(ctx.call_id, window, tz, now)
            if request is None:
                log.info("call %s: the callback window allows no day; the chain calls back as usual", ctx.call_id)
                return
            with unit_of_work(ctx.company_id):  # the signal carries the call's company
                await self.callback_notifier(ctx.chain_id, request)
        except Exception:  # noqa: BLE001 - Temporal or the CRM down: the chain makes its usual callback
            log.exception("call %s: chain %s not told about the callback window", ctx.call_id, ctx.chain_id)

    def spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def drain(self, timeout_s: float = 5.0) -> None:
        """Wait for chain notifications still under way (shutdown)."""
        if self._pending:
            await asyncio.wait(set(self._pending), timeout=timeout_s)

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)


class TemporalNotifier:
    """chain_notify over a Temporal client: the one given, or one made by `connect` on first use (and again
    after a failure), so a bridge started while Temporal was down tells chains once it is up. Called, it
    tells a booking (a BookingNotifier); ``callback`` tells a callback window (a CallbackNotifier)."""

    def __init__(self, client: Client | None = None, *, connect: Callable[[], Awaitable[Client]] | None = None):
        self._client = client
        self._connect = connect

    async def _current(self) -> Client:
        if self._client is None:
            if self._connect is None:
                raise RuntimeError("no Temporal client")
            self._client = await asyncio.wait_for(self._connect(), 5)
        return self._client

    def _after(self, outcome: str) -> str:
        if outcome == "failed" and self._connect is not None:
            self._client = None  # reconnect next time
        return outcome

    async def __call__(self, chain_id: str | None, call_id: str, appointment_id: int) -> Any:
        booking = CallBooking(call_id=call_id, appointment_id=appointment_id)
        return self._after(await notify_booking(await self._current(), chain_id, booking))

    async def callback(self, chain_id: str | None, request: CallbackRequest) -> Any:
        return self._after(await notify_callback(await self._current(), chain_id, request))


def temporal_notifier(
    client: Client | None = None, *, connect: Callable[[], Awaitable[Client]] | None = None
) -> TemporalNotifier:
    """The notifier the bridge server wires in (voice.bridge.server): bookings and callback windows."""
    return TemporalNotifier(client, connect=connect)
