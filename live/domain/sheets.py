"""CSV files that people open in Excel (every export) and save from it (every import).

Every CSV the server writes goes through `write`, and every CSV it reads through
`reader`, so the rules below hold everywhere at once:

- **No formulas.** A spreadsheet runs a cell that starts with `=`, `+`, `-` or `@` as a
  formula, so a product title, a guide's name or a script line typed by one person
  would run in the Excel of whoever opens the export (CSV or formula injection).
  OWASP's remedy (https://owasp.org/www-community/attacks/CSV_Injection): no cell may
  begin with `=`, `+`, `-`, `@`, tab (0x09), carriage return (0x0D) or line feed
  (0x0A); prepend a single quote to such a cell, which spreadsheets take as "this is
  text" and do not show, and quote cells as RFC 4180 says (the `csv` module does) so
  that no separator or quote inside a text can start a new cell. We also look past
  leading whitespace (some importers trim it, Google Sheets among them) and take the
  full-width forms `＝＋－＠` that a Chinese input method types.
- **Numbers stay numbers.** Only text cells are neutralised: a number we write
  ourselves (a refund's `-4792`, its `-47.92` yuan) cannot be a formula, and is written
  as it is so Excel reads it as a number and sums it. A text that looks like a
  number (a script line `-5 元`) is text, and is neutralised like any other.
- **Round trip.** `reader` takes the quote off again, so an export imported back gives
  the same text. A text that itself starts with quotes before a dangerous character
  gets one more, so taking one off is never ambiguous (`'=x` is written `''=x`); a
  quote before anything else is the text's own and stays.
- **Excel on a Chinese Windows** reads a CSV as GBK unless it starts with a UTF-8 byte
  order mark: exports are UTF-8 with the mark and CRLF line ends. Money columns
  (integer fen) get a yuan column beside them with two decimals (`amount_fen`,
  `amount_yuan`; `gmv`, `gmv_yuan`), and times (epoch ms) are written as local
  date-times (`2026-12-04 20:05:09`, which Excel reads as a date) in the zone the
  caller names.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import datetime, tzinfo
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

FORMULA = frozenset("=+-@＝＋－＠")  # a formula's first character, after any whitespace
BREAKS = frozenset("\t\r\n")  # OWASP: also dangerous as the very first character
QUOTE = "'"
BOM = "\ufeff"
CENT = Decimal("0.01")
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"

Cell = str | int | float | Decimal | None


def dangerous(text: str) -> bool:
    """Would a spreadsheet take this text (ignoring quotes in front) for a formula?"""
    text = text.lstrip(QUOTE)
    return text[:1] in BREAKS or text.lstrip()[:1] in FORMULA


def neutral(text: str) -> str:
    """The text as a cell no spreadsheet runs: a quote in front when it is dangerous."""
    return QUOTE + text if dangerous(text) else text


def restore(cell: str) -> str:
    """The text `neutral` was given: a quote taken off a dangerous cell."""
    return cell[1:] if cell.startswith(QUOTE) and dangerous(cell) else cell


def yuan_column(column: str) -> str:
    """The yuan column beside a fen one: `amount_fen` -> `amount_yuan`, `gmv` -> `gmv_yuan`."""
    return column.removesuffix("_fen") + "_yuan"


def yuan(fen: int | float) -> Decimal:
    """Fen as yuan with two decimals, a number (`-4792` -> `-47.92`)."""
    return (Decimal(fen) / 100).quantize(CENT, ROUND_HALF_UP)


def local_time(epoch_ms: int, zone: tzinfo) -> str:
    return datetime.fromtimestamp(epoch_ms / 1000, zone).strftime(TIME_FORMAT)


def write(
    columns: Sequence[str],
    rows: Iterable[Mapping[str, Any]],
    *,
    fen: Collection[str] = (),
    times: Collection[str] = (),
    zone: tzinfo | None = None,
) -> bytes:
    """A CSV file for Excel: the columns as a header, then a line per row (a mapping
    by column; missing and None cells are empty). Each `fen` column gets its yuan
    column beside it; each `times` column (epoch ms) is written as a local date-time in
    `zone`; text cells are neutralised."""
    if times and zone is None:
        raise ValueError("times need a zone")
    header: list[str] = []
    for column in columns:
        header += [column, yuan_column(column)] if column in fen else [column]
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([neutral(column) for column in header])
    for row in rows:
        line: list[Cell] = []
        for column in columns:
            value = row.get(column)
            if column in times and value is not None:
                value = local_time(value, zone)  # type: ignore[arg-type]
            line.append(_cell(value))
            if column in fen:
                line.append(None if value is None else yuan(value))
        writer.writerow(line)
    return (BOM + out.getvalue()).encode("utf-8")


def _cell(value: Any) -> Cell:
    if value is None or isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        return value
    return neutral(str(value))


class _Reader(csv.DictReader):
    def __next__(self) -> dict:
        row = super().__next__()
        return {key: restore(value) if isinstance(value, str) else value for key, value in row.items()}


def reader(text: str, *, strict: bool = False) -> csv.DictReader:
    """The rows of a CSV (a byte order mark in front is skipped) as a `csv.DictReader`
    does, each cell as it was before `write` neutralised it. `strict`: a stray quote
    is an error, not a guess."""
    return _Reader(io.StringIO(text.removeprefix(BOM), newline=""), strict=strict)
