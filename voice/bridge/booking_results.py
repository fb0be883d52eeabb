"""What the bridge's CRM tools return: the facts about the callee, slot offers, booking and answer results.

Plain frozen dataclasses, the one set of types shared by lead_records.py, availability.py, booking.py and
crm_tools.py (which hands them to the dialog policies as they are). ``SlotOffer``/``SlotChoice`` live in
offers.py, with the offer invariant, and are re-exported here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from voice.bridge.dialog.types import Booking, Callee
from voice.bridge.offers import SlotChoice, SlotOffer
from workflows.payloads import CallBooking

BUSINESS_TZ = "Europe/Berlin"

BookingStatus = Literal["booked", "already_booked", "taken", "failed"]


@dataclass(frozen=True)
class LeadFacts:
    """What the bridge may know about the callee and what find_slots needs (read once per call)."""

    lead_id: int
    first_name: str | None
    last_name: str | None
    company: str | None
    language: str
    status: str
    do_not_contact: bool
    chain_id: str | None
    owner_id: int | None
    owner_name: str | None
    # The calendar inputs: the owner's working hours (None = the team default) and zone.
    working_hours: dict[str, Any] | None = None
    timezone: str = BUSINESS_TZ
    # The call's interaction, when the CRM knows the call already.
    interaction_id: int | None = None

    def callee(self) -> Callee:
        return Callee(
            lead_id=self.lead_id,
            first_name=self.first_name,
            last_name=self.last_name,
            company=self.company,
            language=self.language,
            owner_name=self.owner_name,
            do_not_contact=self.do_not_contact,
        )


@dataclass(frozen=True)
class BookingResult:
    status: BookingStatus
    appointment_id: int | None = None
    start: datetime | None = None
    end: datetime | None = None
    owner_id: int | None = None
    lead_id: int | None = None
    call_id: str | None = None
    # The lead's chain: the bridge signals it after a booking (chain_notify.notify_booking).
    chain_id: str | None = None
    reason: str | None = None
    # Whether the booked slot satisfied the caller's constraint (Appointment.offer_matched; None: unknown).
    offer_matched: bool | None = None

    @property
    def ok(self) -> bool:
        return self.status in ("booked", "already_booked")

    def as_booking(self) -> Booking:
        return Booking(status=self.status, appointment_id=self.appointment_id, start=self.start, end=self.end)

    def call_booking(self) -> CallBooking | None:
        if not self.ok or self.appointment_id is None or self.call_id is None:
            return None
        return CallBooking(call_id=self.call_id, appointment_id=self.appointment_id)


@dataclass(frozen=True)
class QualificationResult:
    lead_id: int | None
    qualification: dict[str, Any] = field(default_factory=dict)
    changed: bool = False


@dataclass(frozen=True)
class OptOutResult:
    lead_id: int | None
    newly_marked: bool = False


__all__ = [
    "BUSINESS_TZ",
    "BookingResult",
    "BookingStatus",
    "LeadFacts",
    "OptOutResult",
    "QualificationResult",
    "SlotChoice",
    "SlotOffer",
]
