"""Importing a catalog: parse, check, and put all products in one store op, or none.

A file with any bad row imports nothing unless `skip_bad` is set; then the good rows go
in and the bad ones are reported. The CLI (`live import`) and the admin page's upload
(`POST /api/catalog/import`) both end here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from .domain.catalog import RowError, parse
from .errors import BadMessage
from .protocol import Product
from .store import Store


@dataclass
class ImportReport:
    imported: int = 0
    errors: list[RowError] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "imported": self.imported,
            "errors": [{"line": e.line, "field": e.field, "message": e.message} for e in self.errors],
        }


def format_of(name: str, declared: str | None = None) -> str:
    fmt = (declared or Path(name).suffix.lstrip(".")).lower()
    if fmt not in ("csv", "json"):
        raise BadMessage(f"cannot tell the format of {name!r}: name it .csv or .json, or say which", path="$.format")
    return fmt


async def import_catalog(store: Store, text: str, fmt: str, skip_bad: bool = False) -> ImportReport:
    rows, errors = parse(text, fmt)
    report = ImportReport(errors=errors)
    if errors and not skip_bad:
        return report
    products = [msgspec.convert(row, Product) for row in rows]
    if products:
        await store.put_products(products)
    report.imported = len(products)
    return report
