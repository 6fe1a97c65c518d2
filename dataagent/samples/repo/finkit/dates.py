"""Business-day and period helpers."""

from __future__ import annotations

import calendar
from datetime import date, timedelta


def is_business_day(day: date, holidays: set[date] | None = None) -> bool:
    """Return True if ``day`` is a weekday and not in ``holidays``."""
    if day.weekday() >= 5:
        return False
    return not holidays or day not in holidays


def add_business_days(start: date, count: int, holidays: set[date] | None = None) -> date:
    """Advance ``start`` by ``count`` business days.

    Args:
        start: The starting date (not counted).
        count: Number of business days to add; may be negative.
        holidays: Optional set of non-working dates.

    Returns:
        The resulting business day.
    """
    step = 1 if count >= 0 else -1
    remaining = abs(count)
    current = start
    while remaining:
        current += timedelta(days=step)
        if is_business_day(current, holidays):
            remaining -= 1
    return current


def month_end(day: date) -> date:
    """Return the last calendar day of the month containing ``day``."""
    last = calendar.monthrange(day.year, day.month)[1]
    return day.replace(day=last)


def add_months(day: date, months: int) -> date:
    """Shift ``day`` by ``months`` months, clamping to the month's last day.

    >>> add_months(date(2024, 1, 31), 1)
    datetime.date(2024, 2, 29)
    """
    index = day.year * 12 + (day.month - 1) + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day.day, last))


def day_count_30_360(start: date, end: date) -> int:
    """Days between two dates under the US 30/360 convention.

    :param start: Accrual start date.
    :param end: Accrual end date.
    :returns: Number of days, treating every month as 30 days.
    """
    d1 = min(start.day, 30)
    d2 = end.day
    if d1 == 30 and d2 == 31:
        d2 = 30
    return (end.year - start.year) * 360 + (end.month - start.month) * 30 + (d2 - d1)


def quarter(day: date) -> int:
    return (day.month - 1) // 3 + 1


def roc_year(day: date) -> int:
    """Return the Republic of China (Minguo) year for ``day``."""
    return day.year - 1911
