"""Reading a product catalog from CSV or JSON, with every bad row reported by line.

Columns (CSV header, or JSON keys): `sku`, `title`, `price` and `list_price` in integer
fen (`5990` is ¥59.90; `59.9` is refused, never guessed), `role` (traffic / hit / regular
/ margin, or 引流款 / 爆款 / 正价款 / 利润款), `image`, `stock`, `limit` (per viewer).
Only `sku`, `title` and `price` are required. Returns plain dicts: the caller turns them
into Products, so this module stays free of the wire format.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from . import sheets

ROLES = {
    "traffic": "traffic", "引流款": "traffic", "引流": "traffic",
    "hit": "hit", "爆款": "hit",
    "regular": "regular", "正价款": "regular", "正价": "regular",
    "margin": "margin", "利润款": "margin", "利润": "margin",
}
FIELDS = ("sku", "title", "price", "list_price", "role", "image", "stock", "limit")
SKU = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
MAX_FEN = 100_000_000_00


@dataclass(frozen=True, slots=True)
class RowError:
    line: int  # the CSV line (header is line 1), or the JSON item's position (from 1)
    field: str | None
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}" + (f", {self.field}" if self.field else "")
        return f"{where}: {self.message}"


def parse(text: str, fmt: str) -> tuple[list[dict[str, Any]], list[RowError]]:
    """Products and errors from a CSV (`fmt="csv"`) or JSON (`"json"`) document."""
    if fmt == "csv":
        return _rows(_csv_items(text))
    if fmt == "json":
        try:
            document = json.loads(text)
        except ValueError as exc:
            return [], [RowError(1, None, f"not JSON: {exc}")]
        items = document.get("products") if isinstance(document, dict) else document
        if not isinstance(items, list):
            return [], [RowError(1, None, 'expected a list of products, or {"products": [...]}')]
        return _rows((i, item) for i, item in enumerate(items, start=1))
    raise ValueError(f"unknown catalog format {fmt!r}: csv or json")


def _csv_items(text: str):
    reader = sheets.reader(text)
    for row in reader:
        extra = row.pop(None, None)  # type: ignore[call-overload]
        item: dict[str, Any] = {k.strip(): (v.strip() if isinstance(v, str) else v) for k, v in row.items() if k}
        if extra:
            item["__extra__"] = extra
        yield reader.line_num, item


def _rows(items) -> tuple[list[dict[str, Any]], list[RowError]]:
    products: list[dict[str, Any]] = []
    errors: list[RowError] = []
    seen: dict[str, int] = {}
    for line, item in items:
        product, problems = _product(line, item)
        if product is not None and product["sku"] in seen:
            problems.append(RowError(line, "sku", f"sku {product['sku']!r} already on line {seen[product['sku']]}"))
        if problems:
            errors.extend(problems)
        elif product is not None:
            seen[product["sku"]] = line
            products.append(product)
    return products, errors


def _product(line: int, item: Any) -> tuple[dict[str, Any] | None, list[RowError]]:
    if not isinstance(item, dict):
        return None, [RowError(line, None, "a product is an object")]
    errors: list[RowError] = []
    if item.get("__extra__"):
        errors.append(RowError(line, None, "more cells than the header has columns"))
    unknown = set(item) - set(FIELDS) - {"__extra__"}
    if unknown:
        errors.append(RowError(line, sorted(unknown)[0], f"unknown column; use {', '.join(FIELDS)}"))
    product: dict[str, Any] = {}
    sku = _text(item.get("sku"))
    if not sku or not SKU.match(sku):
        errors.append(RowError(line, "sku", "1-64 letters, digits, '.', '_' or '-', starting with a letter or digit"))
    product["sku"] = sku
    title = _text(item.get("title"))
    if not title or len(title) > 120:
        errors.append(RowError(line, "title", "1-120 characters"))
    product["title"] = title
    for field, required, low, high in (
        ("price", True, 0, MAX_FEN),
        ("list_price", False, 0, MAX_FEN),
        ("stock", False, 0, 10_000_000),
        ("limit", False, 1, 100),
    ):
        value, problem = _whole(item.get(field), required, low, high, money=field.endswith("price"))
        if problem:
            errors.append(RowError(line, field, problem))
        elif value is not None:
            product[field] = value
    role = _text(item.get("role"))
    if role:
        if role.lower() not in ROLES and role not in ROLES:
            errors.append(RowError(line, "role", "traffic, hit, regular or margin (引流款, 爆款, 正价款, 利润款)"))
        else:
            product["role"] = ROLES.get(role.lower(), ROLES.get(role))
    image = _text(item.get("image"))
    if image:
        if not image.startswith(("https://", "http://", "/")) or len(image) > 2048:
            errors.append(RowError(line, "image", "an http(s) URL or a path starting with /"))
        else:
            product["image"] = image
    return (None if errors else product), errors


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ("" if value is None else str(value))


def _whole(value: Any, required: bool, low: int, high: int, money: bool) -> tuple[int | None, str | None]:
    if value is None or value == "":
        return None, ("required" if required else None)
    if isinstance(value, bool):
        return None, "a whole number"
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and re.fullmatch(r"-?\d+", value):
        number = int(value)
    else:
        hint = " of fen (5990 for ¥59.90)" if money else ""
        return None, f"a whole number{hint}, not {value!r}"
    if not low <= number <= high:
        return None, f"between {low} and {high}"
    return number, None
