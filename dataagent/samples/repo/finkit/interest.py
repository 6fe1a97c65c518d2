"""Interest rate calculations."""

from __future__ import annotations

import math


def simple_interest(principal: float, rate: float, years: float) -> float:
    """Compute simple interest earned on a principal.

    Args:
        principal: Amount initially invested.
        rate: Annual interest rate as a decimal (0.05 for 5%).
        years: Length of the investment in years.

    Returns:
        The interest earned, excluding the principal.

    Raises:
        ValueError: If ``principal`` or ``years`` is negative.
    """
    if principal < 0 or years < 0:
        raise ValueError("principal and years must be non-negative")
    return principal * rate * years


def compound_interest(principal: float, rate: float, years: float, periods_per_year: int = 12) -> float:
    """Return the future value of a principal under compound interest.

    Args:
        principal: Amount initially invested.
        rate: Nominal annual rate as a decimal.
        years: Investment horizon in years.
        periods_per_year: Number of compounding periods per year.

    Returns:
        The balance after ``years``, including the principal.
    """
    if periods_per_year <= 0:
        raise ValueError("periods_per_year must be positive")
    periodic_rate = rate / periods_per_year
    periods = periods_per_year * years
    return principal * (1 + periodic_rate) ** periods


def continuous_compound(principal: float, rate: float, years: float) -> float:
    """Future value with continuous compounding, ``P * e**(r*t)``."""
    return principal * math.exp(rate * years)


def effective_annual_rate(nominal_rate: float, periods_per_year: int) -> float:
    """將名目年利率換算為有效年利率。

    Args:
        nominal_rate: 名目年利率（小數表示，例如 0.02 代表 2%）。
        periods_per_year: 每年複利次數。

    Returns:
        有效年利率（小數）。
    """
    if periods_per_year <= 0:
        raise ValueError("periods_per_year must be positive")
    return (1 + nominal_rate / periods_per_year) ** periods_per_year - 1


def rule_of_72(rate_percent: float) -> float:
    """Estimate the years needed to double money at ``rate_percent`` percent."""
    if rate_percent <= 0:
        raise ValueError("rate_percent must be positive")
    return 72 / rate_percent


# Solve for the annual rate that grows present_value into future_value.
def implied_rate(present_value: float, future_value: float, years: float) -> float:
    if present_value <= 0 or future_value <= 0:
        raise ValueError("values must be positive")
    if years <= 0:
        raise ValueError("years must be positive")
    return (future_value / present_value) ** (1 / years) - 1
