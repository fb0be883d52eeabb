"""A month's invoice lines and totals from a plan and the recorded usage: integer cents, no float.

Pure functions (no database), so the arithmetic is tested on its own and the invoice and the admin's
usage page compute the same figures."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from crm.billing import metrics

VAT_RATE_PERCENT = 19
# EU member states (ISO 3166-1 alpha-2; Greece is "GR" here, its VAT ids start "EL").
EU = frozenset("AT BE BG CY CZ DE DK EE ES FI FR GR HR HU IE IT LT LU LV MT NL PL PT RO SE SI SK".split())
HOME_COUNTRY = "DE"


@dataclass(frozen=True)
class PlanPrices:
    base_fee_cents: int
    unit_prices_cents: dict[str, int]
    included: dict[str, int]


@dataclass(frozen=True)
class Line:
    metric: str  # "base_fee" or a metric of crm.billing.metrics
    used: int
    included: int
    billed_quantity: int
    unit_price_cents: int
    amount_cents: int

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Totals:
    net_cents: int
    vat_rate_percent: int
    vat_cents: int
    gross_cents: int
    reverse_charge: bool


def lines_for(plan: PlanPrices, used: dict[str, int]) -> list[Line]:
    """The base fee, then one line per billed metric that was used or is priced."""
    lines = [Line("base_fee", 1, 0, 1, plan.base_fee_cents, plan.base_fee_cents)]
    for metric in metrics.BILLED:
        quantity = int(used.get(metric, 0))
        price = int(plan.unit_prices_cents.get(metric, 0))
        if quantity == 0 and price == 0:
            continue
        included = int(plan.included.get(metric, 0))
        billed = max(0, quantity - included)
        lines.append(Line(metric, quantity, included, billed, price, billed * price))
    return lines


def usage_charges_cents(lines: list[Line]) -> int:
    """What the month's usage costs above the base fee: the figure the soft and hard limits watch."""
    return sum(line.amount_cents for line in lines if line.metric != "base_fee")


def reverse_charge_applies(country: str, vat_id: str | None, is_business: bool) -> bool:
    """§13b UStG: a business customer in another EU state with a VAT id owes the VAT itself."""
    return is_business and bool(vat_id) and country.upper() in EU and country.upper() != HOME_COUNTRY


def totals_for(lines: list[Line], reverse_charge: bool) -> Totals:
    net = sum(line.amount_cents for line in lines)
    rate = 0 if reverse_charge else VAT_RATE_PERCENT
    # Half-up to the cent in integers: (net * rate) / 100 rounded, without a float in between.
    vat = (net * rate + 50) // 100
    return Totals(net, rate, vat, net + vat, reverse_charge)
