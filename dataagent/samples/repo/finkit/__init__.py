"""finkit: small finance and text utilities."""

from finkit.interest import compound_interest, simple_interest
from finkit.ledger import Ledger
from finkit.loans import monthly_payment

__all__ = ["compound_interest", "simple_interest", "monthly_payment", "Ledger", "version"]

__version__ = "0.3.1"


def version() -> str:
    """Return the installed finkit version string."""
    return __version__
