"""Loan amortization helpers."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Installment:
    """A single row of an amortization schedule."""

    period: int
    payment: float
    interest: float
    principal: float
    balance: float


def monthly_payment(principal: float, annual_rate: float, years: int) -> float:
    """計算每月應繳的本息平均攤還金額。"""
    months = years * 12
    if months <= 0:
        raise ValueError("years must be positive")
    r = annual_rate / 12
    if r == 0:
        return principal / months
    factor = (1 + r) ** months
    return principal * r * factor / (factor - 1)


def amortization_schedule(principal: float, annual_rate: float, years: int) -> list[Installment]:
    """Build a level-payment amortization schedule.

    :param principal: Amount borrowed.
    :param annual_rate: Nominal annual rate as a decimal.
    :param years: Loan term in years.
    :returns: One :class:`Installment` per month, in order.
    """
    payment = monthly_payment(principal, annual_rate, years)
    r = annual_rate / 12
    balance = principal
    rows: list[Installment] = []
    for period in range(1, years * 12 + 1):
        interest = balance * r
        paid_principal = payment - interest
        balance = max(balance - paid_principal, 0.0)
        rows.append(Installment(period, payment, interest, paid_principal, balance))
    return rows


def total_interest(principal: float, annual_rate: float, years: int) -> float:
    """Return the total interest paid over the life of a level-payment loan."""
    return monthly_payment(principal, annual_rate, years) * years * 12 - principal


def equal_principal_payments(principal: float, annual_rate: float, years: int) -> list[float]:
    """Monthly payments for an equal-principal loan.

    The principal portion is fixed; interest shrinks as the balance falls.

    :param principal: Amount borrowed.
    :param annual_rate: Nominal annual rate as a decimal.
    :param years: Loan term in years.
    :returns: The payment due for each month, in order.
    """
    months = years * 12
    if months <= 0:
        raise ValueError("years must be positive")
    fixed = principal / months
    r = annual_rate / 12
    payments = []
    for k in range(months):
        remaining = principal - fixed * k
        payments.append(fixed + remaining * r)
    return payments


def remaining_balance(principal: float, annual_rate: float, years: int, paid_months: int) -> float:
    """Outstanding balance after ``paid_months`` level payments.

    Args:
        principal: Amount borrowed.
        annual_rate: Nominal annual rate as a decimal.
        years: Loan term in years.
        paid_months: Number of payments already made.

    Returns:
        The principal still owed.
    """
    payment = monthly_payment(principal, annual_rate, years)
    r = annual_rate / 12
    if r == 0:
        return max(principal - payment * paid_months, 0.0)
    growth = (1 + r) ** paid_months
    return max(principal * growth - payment * (growth - 1) / r, 0.0)
