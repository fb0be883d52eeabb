"""What one `twilio_realtime` call costs: Twilio's minutes plus the Realtime model's audio tokens
(docs/audio-agent.md §T4).

The two halves arrive apart. Twilio reports its own price on the call resource (`price`, a negative
decimal string such as "-0.0140", with `price_unit`), and only some time after the call has ended; until
then the minutes are priced at a configured per-minute rate. The model's usage is known only to the voice
bridge, which adds up each Realtime `response.done`'s `usage` and hands it over as a RealtimeUsage.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from providers.parsing import MAX_COST_CENTS, FieldError

MAX_TOKENS = 50_000_000  # far above a day-long call's audio: anything beyond is not a count


@dataclass(frozen=True)
class RealtimeUsage:
    """The Realtime model's usage over one call, summed by the bridge over every `response.done`
    (`usage.input_token_details.audio_tokens` / `cached_tokens`, `usage.output_token_details.audio_tokens`).
    Only counts and the Twilio CallSid: nothing said on the call."""

    call_sid: str
    audio_tokens_in: int = 0
    audio_tokens_out: int = 0
    cached_tokens_in: int = 0
    text_tokens_in: int = 0
    text_tokens_out: int = 0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Any) -> RealtimeUsage:
        """Read what the bridge sent, every count checked (FieldError names the one that is wrong)."""
        if not isinstance(data, dict):
            raise FieldError("body", "must be a JSON object")
        sid = data.get("call_sid")
        if not isinstance(sid, str) or not sid.startswith("CA") or len(sid) != 34:
            raise FieldError("call_sid", "must be a Twilio CallSid")
        counts: dict[str, int] = {}
        for name in ("audio_tokens_in", "audio_tokens_out", "cached_tokens_in", "text_tokens_in", "text_tokens_out"):
            value = data.get(name, 0)
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_TOKENS:
                raise FieldError(name, f"must be a whole number from 0 to {MAX_TOKENS}")
            counts[name] = value
        return cls(call_sid=sid, **counts)


@dataclass(frozen=True)
class CostRates:
    """Prices in US dollars. Defaults: Twilio's outbound US voice minute and gpt-realtime's list prices per
    million tokens at the time of writing; a deployment sets its own."""

    twilio_per_minute: Decimal = Decimal("0.014")
    audio_in_per_million: Decimal = Decimal("32")
    audio_out_per_million: Decimal = Decimal("64")
    cached_in_per_million: Decimal = Decimal("0.40")
    text_in_per_million: Decimal = Decimal("4")
    text_out_per_million: Decimal = Decimal("16")


def twilio_dollars(duration_s: int, twilio_price: str | None, rates: CostRates) -> Decimal:
    """Twilio's own price when it has reported one (it is negative: a charge), else the started minutes
    at the configured rate (Twilio bills voice per started minute)."""
    if twilio_price:
        try:
            return abs(Decimal(twilio_price))
        except InvalidOperation:
            pass  # an unreadable price is priced like a missing one
    minutes = -(-max(0, duration_s) // 60)
    return rates.twilio_per_minute * minutes


def model_dollars(usage: RealtimeUsage | None, rates: CostRates) -> Decimal:
    if usage is None:
        return Decimal(0)
    million = Decimal(1_000_000)
    uncached = max(0, usage.audio_tokens_in - usage.cached_tokens_in)
    return (
        uncached * rates.audio_in_per_million
        + usage.cached_tokens_in * rates.cached_in_per_million
        + usage.audio_tokens_out * rates.audio_out_per_million
        + usage.text_tokens_in * rates.text_in_per_million
        + usage.text_tokens_out * rates.text_out_per_million
    ) / million


def call_cost_cents(
    duration_s: int, twilio_price: str | None, usage: RealtimeUsage | None, rates: CostRates | None = None
) -> int:
    """Whole US cents for the call: Twilio's minutes plus the model's tokens, rounded half up."""
    rates = rates or CostRates()
    total = (twilio_dollars(duration_s, twilio_price, rates) + model_dollars(usage, rates)) * 100
    return min(MAX_COST_CENTS, int(total.to_integral_value(ROUND_HALF_UP)))
