"""The warehouse: table declarations, the DuckDB store and the shared ops tables."""

from chitty_pipelines.warehouse.store import Reject, Transaction, Warehouse, held_connections
from chitty_pipelines.warehouse.tables import (
    Column,
    InvalidIdentifier,
    TableSpec,
    cols,
    quote,
    validate_identifier,
)

__all__ = [
    "Column",
    "InvalidIdentifier",
    "Reject",
    "TableSpec",
    "Transaction",
    "Warehouse",
    "cols",
    "held_connections",
    "quote",
    "validate_identifier",
]
