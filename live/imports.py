"""Importing a catalog: parse, check, and put all products in one store op, or none.

A file with any bad row imports nothing unless `skip_bad` is set; then the good rows go
in and the bad ones are reported. The CLI (`live import`) and the admin page's upload
(`POST /api/catalog/import`) both end here, and every imported file (catalog, people,
scripts) is read as text by `text_of`.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from .domain import sheets
from .domain.catalog import RowError, parse
from .errors import BadMessage, LiveError
from .protocol import Distributor, Guide, Product, Shop, strict
from .ops import Ops


@dataclass
class ImportReport:
    imported: int = 0
    errors: list[RowError] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "imported": self.imported,
            "errors": [{"line": e.line, "field": e.field, "message": e.message} for e in self.errors],
        }


ENCODINGS = ("utf-8-sig", "gb18030")


def text_of(data: bytes) -> str:
    """An imported file's text. Excel saves "CSV UTF-8" (with a byte order mark) and,
    on a Chinese Windows, plain "CSV" in GBK: UTF-8 is tried first (text in GBK is
    almost never valid UTF-8), then GB18030, GBK's superset. Anything else (UTF-16,
    a spreadsheet's binary) is refused rather than guessed."""
    for encoding in ENCODINGS:
        try:
            return data.decode(encoding).removeprefix("\ufeff")  # GB18030 has a byte order mark of its own
        except UnicodeDecodeError:
            continue
    raise BadMessage("the file is neither UTF-8 nor GB18030 (GBK) text: save it from Excel as CSV", path="$",
                     code="file_encoding")


def format_of(name: str, declared: str | None = None) -> str:
    fmt = (declared or Path(name).suffix.lstrip(".")).lower()
    if fmt not in ("csv", "json"):
        raise BadMessage(f"cannot tell the format of {name!r}: name it .csv or .json, or say which", path="$.format")
    return fmt


async def import_catalog(store: Ops, text: str, fmt: str, skip_bad: bool = False) -> ImportReport:
    rows, errors = parse(text, fmt)
    report = ImportReport(errors=errors)
    if errors and not skip_bad:
        return report
    products = [strict.convert(row, Product) for row in rows]
    if products:
        await store.put_products(products)
    report.imported = len(products)
    return report


KINDS = {"shop": "shops", "store": "shops", "门店": "shops", "guide": "guides", "导购": "guides",
         "distributor": "distributors", "分销员": "distributors"}


PERSON_KINDS = {"shops": Shop, "guides": Guide, "distributors": Distributor}


def columns_of(group: str) -> str:
    """What a row of a kind takes, the required columns first: "id, name, shop, code
    (required); reach" for guides. Guides take no brand: theirs is their store's."""
    kind = PERSON_KINDS[group]
    fields = kind.__struct_fields__
    required = fields[: len(fields) - len(kind.__struct_defaults__)]
    optional = [f for f in fields if f not in required]
    return f"{', '.join(required)} (required); {', '.join(optional)}"


async def import_people(store: Ops, text: str, fmt: str) -> ImportReport:
    """Stores, guides and distributors from one file: CSV with a `kind` column (shop,
    guide, distributor) or JSON `{"shops": [...], "guides": [...], "distributors": [...]}`.
    Every row is checked, then every reference (unknown stores, parents, cycles and
    chains deeper than two levels): any error, and nothing is imported."""
    groups: dict[str, list[tuple[int, dict]]] = {"shops": [], "guides": [], "distributors": []}
    report = ImportReport()
    if fmt == "csv":
        reader = sheets.reader(text, strict=True)
        try:
            for row in reader:
                line = reader.line_num
                if any(cell.strip() for cell in row.pop(None, None) or ()):  # type: ignore[call-overload]
                    report.errors.append(RowError(line, None, "more cells than the header has columns"))
                    continue
                item = {k.strip(): v.strip() for k, v in row.items() if k and v and v.strip()}
                group = KINDS.get(item.pop("kind", "").lower())
                if group is None:
                    report.errors.append(RowError(line, "kind", "shop, guide or distributor"))
                    continue
                if "reach" in item:
                    item["reach"] = int(item["reach"]) if item["reach"].isdigit() else item["reach"]
                groups[group].append((line, item))
        except csv.Error as exc:
            report.errors.append(RowError(reader.line_num + 1, None, f"not CSV: {exc}"))
    else:
        try:
            document = json.loads(text)
        except ValueError as exc:
            return ImportReport(errors=[RowError(getattr(exc, "lineno", 1), None, f"not JSON: {exc}")])
        if not isinstance(document, dict):
            return ImportReport(errors=[RowError(1, None, 'expected {"shops": [...], "guides": [...], "distributors": [...]}')])
        for key in document:
            if key not in groups:
                report.errors.append(RowError(1, key, "unknown list: use shops, guides and distributors"))
        for group in groups:
            items = document.get(group) or []
            if not isinstance(items, list):
                report.errors.append(RowError(1, group, f"expected a list of {group}"))
                continue
            groups[group] = [(i, item) for i, item in enumerate(items, start=1)]
    parsed: dict[str, list] = {group: [] for group in groups}
    lines: dict[str, list[int]] = {group: [] for group in groups}
    shop_lines: dict[str, int] = {}  # put_people checks guides' and distributors' ids, not a store given twice
    for group, rows in groups.items():
        for line, item in rows:
            known = PERSON_KINDS[group].__struct_fields__
            stray = next((name for name in item if name not in known), None) if isinstance(item, dict) else None
            if stray is not None:  # name what the row's kind takes, not just what it does not
                report.errors.append(RowError(line, stray, f"{stray!r} is not for {group}: {columns_of(group)}"))
                continue
            try:
                person = strict.convert(item, PERSON_KINDS[group])
                if group == "shops" and person.id in shop_lines:
                    report.errors.append(RowError(line, "id", f"store {person.id!r} is already on line {shop_lines[person.id]}"))
                    continue
                if group == "shops":
                    shop_lines[person.id] = line
                parsed[group].append(person)
                lines[group].append(line)
            except msgspec.ValidationError as exc:
                message, _, at = str(exc).partition(" - at `")
                named = re.search(r"(?:missing required|unknown) field `([^`]+)`", message)  # at the top: no path
                report.errors.append(RowError(line, at.rstrip("`").removeprefix("$.") or (named[1] if named else None), message))
    if report.errors:
        return report
    try:
        await store.put_people(parsed["shops"], parsed["guides"], parsed["distributors"])
    except LiveError as exc:
        match = re.match(r"^\$\.(\w+)\[(\d+)\]\.?(.*)$", exc.path or "")
        line = lines[match[1]][int(match[2])] if match else 1
        report.errors.append(RowError(line, match[3] if match else None, exc.message))
        return report
    report.imported = sum(len(items) for items in parsed.values())
    return report
