"""The owner side of a scenario: diagnostics, service behaviour, trade-in, finance and consent."""

from __future__ import annotations

from pydantic import Field, model_validator

from simulator.scenario.checks import IntRange, Probability, Range, Rate, Section


class DiagnosticsSection(Section):
    """Scales the catalog's diagnostic-code rates (per 1,000 km) overall and by model."""

    rate_factor: Rate = Field(default=1.0, le=1000.0)
    # By "Brand Model": replaces the model's dtc_factor from the catalog.
    model_factors: dict[str, Rate] = {}
    # Days an intermittent code stays active (default: the catalog's self_clear_days).
    self_clear_days: IntRange | None = None

    @model_validator(mode="after")
    def _days(self) -> DiagnosticsSection:
        if self.self_clear_days is not None and self.self_clear_days[0] < 1:
            raise ValueError("self_clear_days must be at least 1")
        return self


class ServiceBehaviour(Section):
    """Shares of owners who service at the dealer on time, late, or lapse to an independent."""

    on_time: Rate = 0.6
    late: Rate = 0.25
    lapsed: Rate = 0.15

    @model_validator(mode="after")
    def _some(self) -> ServiceBehaviour:
        if self.on_time + self.late + self.lapsed <= 0:
            raise ValueError("at least one share must be positive")
        return self

    def shares(self) -> dict[str, float]:
        total = self.on_time + self.late + self.lapsed
        return {
            "on_time": self.on_time / total,
            "late": self.late / total,
            "lapsed": self.lapsed / total,
        }


class ResponseSection(Section):
    """How owners respond to a dealer that acts on its service alerts (docs/simulator.md,
    "Owners respond"). With ``booking_uplift`` 0 (the default) nobody responds: "alerts off"."""

    # The chance that an owner the dealer reminds (a service falls due in the period or the
    # horizon, service-reminder consent when the reminder goes out) and who would otherwise go
    # late or to an independent garage books at the dealer on time instead.
    booking_uplift: Probability = 0.0
    # Days before the due date that the reminder goes out (the service-due gate's entry and
    # early stage in processors/journey/alert_rules.toml).
    reminder_lead_days: int = Field(default=30, ge=0, le=365)


class OwnersSection(Section):
    """When owners service (days after the service falls due) and how often they trade in."""

    service: ServiceBehaviour = ServiceBehaviour()
    on_time_days: IntRange = (0, 14)
    late_days: IntRange = (30, 120)
    independent_days: IntRange = (0, 30)
    # A lapsing owner services at the dealer this many times after delivery, then independently.
    lapse_after_services: IntRange = (0, 2)
    trade_in_per_year: Rate = Field(default=0.1, le=10.0)
    # Share of owners who own 2 or 3 of the fleet's vehicles (half each): one owner_id in the
    # registry, one contact budget (assumption: households and small businesses).
    multi_vehicle_share: Probability = 0.1
    response: ResponseSection = ResponseSection()

    @model_validator(mode="after")
    def _non_negative(self) -> OwnersSection:
        ranges = (
            self.on_time_days,
            self.late_days,
            self.independent_days,
            self.lapse_after_services,
        )
        if any(low < 0 for low, _ in ranges):
            raise ValueError("day ranges and lapse_after_services must be >= 0")
        return self


class FinanceMix(Section):
    cash: Rate = 0.3
    loan: Rate = 0.45
    pcp: Rate = 0.25

    @model_validator(mode="after")
    def _some(self) -> FinanceMix:
        if self.cash + self.loan + self.pcp <= 0:
            raise ValueError("at least one share must be positive")
        return self

    def shares(self) -> dict[str, float]:
        total = self.cash + self.loan + self.pcp
        return {"cash": self.cash / total, "loan": self.loan / total, "pcp": self.pcp / total}


class FinanceSection(Section):
    """How vehicles were paid for: cash, an amortising loan, or PCP (a loan with a balloon)."""

    mix: FinanceMix = FinanceMix()
    price_premium_pct: Range = (0.0, 20.0)
    deposit_pct: Range = (0.0, 20.0)
    loan_apr_pct: Range = (3.9, 9.9)
    loan_term_months: tuple[int, ...] = Field(default=(36, 48, 60, 72), min_length=1)
    pcp_apr_pct: Range = (4.9, 8.9)
    pcp_term_months: tuple[int, ...] = Field(default=(24, 36, 48), min_length=1)
    pcp_balloon_pct: Range = (35.0, 55.0)

    @model_validator(mode="after")
    def _bounds(self) -> FinanceSection:
        pcts = (
            self.price_premium_pct,
            self.deposit_pct,
            self.loan_apr_pct,
            self.pcp_apr_pct,
            self.pcp_balloon_pct,
        )
        if any(low < 0 or high > 100 for low, high in pcts):
            raise ValueError("percentages must be between 0 and 100")
        if self.deposit_pct[1] + self.pcp_balloon_pct[1] >= 100:
            raise ValueError("deposit_pct + pcp_balloon_pct must stay below 100")
        if any(not 1 <= t <= 120 for t in self.loan_term_months + self.pcp_term_months):
            raise ValueError("terms must be between 1 and 120 months")
        return self


class ConsentSection(Section):
    """Probability that an owner consents to each purpose, and how often they change their mind."""

    service_reminders: Probability = 0.85
    marketing_offers: Probability = 0.4
    location: Probability = 0.55
    changes_per_year: Rate = Field(default=0.1, le=50.0)

    def initial(self) -> dict[str, float]:
        return {
            "service_reminders": self.service_reminders,
            "marketing_offers": self.marketing_offers,
            "location": self.location,
        }
