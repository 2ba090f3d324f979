"""CSV for Excel (`live.domain.sheets`), and every export written through it: no cell a
spreadsheet would run as a formula, whatever text people typed; the text comes back
as it was when the file is read again; numbers we write stay numbers; a byte order
mark, yuan beside fen and local date-times."""

from __future__ import annotations

import csv
import io
import re
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from live.domain import review as rules
from live.domain import scripts, sheets
from live.protocol import LedgerEntry
from live.web.api import ledger_csv
from live.web.review import _csv as review_csv

# What OWASP lists (https://owasp.org/www-community/attacks/CSV_Injection), the
# full-width forms a Chinese input method types, and what may hide them: whitespace
# of every kind before them, quotes (Excel's own "this is text" mark) before them.
FIRST = ["=", "+", "-", "@", "\t", "\r", "\n", "＝", "＋", "－", "＠"]
LEADING = ["", " ", "  ", "\u3000", "\xa0", "\t", "\r\n", " \t", "'", "''", "' ", "\"", ","]
SHANGHAI = ZoneInfo("Asia/Shanghai")

anything = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)  # no lone surrogates: not encodable
cjk = st.text(st.characters(min_codepoint=0x4E00, max_codepoint=0x4FFF), max_size=5)
texts = st.one_of(
    anything,
    st.builds(lambda lead, first, rest: lead + first + rest, st.sampled_from(LEADING), st.sampled_from(FIRST), anything),
    st.builds(lambda a, b, c: a + b + c, cjk, st.sampled_from(['"', "\r\n", ",", "'", "=", '""']), cjk),
)


def read_back(data: bytes) -> list[list[str]]:
    """What Excel, or anyone with `csv.reader`, reads from a file."""
    assert data.startswith(b"\xef\xbb\xbf"), "no UTF-8 byte order mark: Excel on a Chinese Windows reads GBK"
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


NUMBER = re.compile(r"-?\d+(\.\d+)?")  # a number to a spreadsheet, never a formula


def assert_inert(rows: list[list[str]]) -> None:
    for row in rows:
        for cell in row:
            if NUMBER.fullmatch(cell):
                continue
            assert cell[:1] not in ("=", "+", "-", "@", "\t", "\r", "\n"), cell
            assert cell.lstrip()[:1] not in ("=", "+", "-", "@", "＝", "＋", "－", "＠"), cell


@given(st.lists(texts, min_size=1, max_size=5))
def test_no_cell_can_run_and_every_text_comes_back(cells):
    columns = [f"c{i}" for i in range(len(cells))]
    data = sheets.write(columns, [dict(zip(columns, cells))])
    assert_inert(read_back(data))
    assert list(sheets.reader(data.decode("utf-8"))) == [dict(zip(columns, cells))]


@pytest.mark.parametrize("text, written", [
    ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"),
    ("-4792", "'-4792"),  # a text that looks like a number is text
    ("  @SUM(A1)", "'  @SUM(A1)"),
    ("＝1+1", "'＝1+1"),
    ("'=x", "''=x"),  # its own quote, kept: one more goes in front
    ("'quoted'", "'quoted'"),  # a quote before nothing dangerous is the text's own
    ("欢迎{宝宝/家人们}", "欢迎{宝宝/家人们}"),
])
def test_what_a_text_cell_becomes(text, written):
    assert sheets.neutral(text) == written
    assert sheets.restore(written) == text


def test_numbers_we_write_stay_numbers_and_yuan_sits_beside_fen():
    """Numbers are not neutralised: a refund's `-4792` fen is written bare (Excel reads a
    number and sums it), and so is its `-47.92` yuan; an empty amount stays empty."""
    data = sheets.write(["who", "amount_fen", "gmv"], [
        {"who": "g1", "amount_fen": -4792, "gmv": 5990}, {"who": "-g2", "amount_fen": 1, "gmv": None},
    ], fen={"amount_fen", "gmv"})
    assert read_back(data) == [
        ["who", "amount_fen", "amount_yuan", "gmv", "gmv_yuan"],
        ["g1", "-4792", "-47.92", "5990", "59.90"],
        ["'-g2", "1", "0.01", "", ""],
    ]
    assert data.decode("utf-8-sig").splitlines()[1] == "g1,-4792,-47.92,5990,59.90"  # unquoted: a number to Excel


def test_times_are_local_date_times_in_the_zone_given():
    at = 1_796_400_000_000  # 2026-12-04 16:00:00 UTC
    rows = [{"at": at, "end": None}]
    assert read_back(sheets.write(["at", "end"], rows, times={"at", "end"}, zone=SHANGHAI))[1] == ["2026-12-05 00:00:00", ""]
    assert read_back(sheets.write(["at"], rows, times={"at"}, zone=ZoneInfo("UTC")))[1] == ["2026-12-04 16:00:00"]


# --- every export, through the function its route calls ------------------------------


@given(st.lists(texts.map(str.strip).filter(lambda t: 0 < len(t) <= 500), min_size=1, max_size=5))
def test_the_script_export_reads_back_line_for_line(texts_):
    lines = [{"purpose": "welcome", "tier": "any", "sku": None, "product_role": None, "text": text} for text in texts_]
    data = scripts.to_csv(lines)
    assert_inert(read_back(data))
    assert scripts.from_csv(data.decode("utf-8")) == lines


@given(texts, texts, texts)
def test_the_review_tables_neutralise_what_people_typed(title, name, label):
    products = [rules.ProductRow("P1", title, 1, 5, 1, 0, 0, 1, 1, -4792, None)]
    formula = rules.Formula([rules.Factor("aov", 5990.0, "fen")], 5990, 5990.0)
    guides = [rules.PromoterRow("g1", name, "guide", "s1", 1, 1, 1, 1, 1, 5990, 599, formula)]
    markers = [rules.Moment("action", 1_796_400_000_000, label, name)]
    for table, value, typed in (("products", products, title), ("guides", guides, name), ("markers", markers, label)):
        rows = read_back(review_csv(table, value, SHANGHAI))
        assert_inert(rows)
        assert typed in [sheets.restore(cell) for cell in rows[1]]
    assert read_back(review_csv("products", products, SHANGHAI))[1][-3:-1] == ["-4792", "-47.92"]
    assert read_back(review_csv("markers", markers, SHANGHAI))[1][1] == "2026-12-05 00:00:00"


@given(texts, texts)
def test_the_ledger_neutralises_what_people_typed(note, payout):
    entry = LedgerEntry("e1", "o1", "r1", "g1", "guide", 1, -4792, 1_796_400_000_000, 1_796_400_060_000, "refund",
                        payout or None, note or None, "s1")
    rows = read_back(ledger_csv([(entry, "frozen")], SHANGHAI))
    assert_inert(rows)
    line = dict(zip(rows[0], rows[1]))
    assert sheets.restore(line["note"]) == note and sheets.restore(line["payout"]) == payout
    assert (line["amount_fen"], line["amount_yuan"]) == ("-4792", "-47.92")
    assert (line["paid_at"], line["at"]) == ("2026-12-05 00:00:00", "2026-12-05 00:01:00")
