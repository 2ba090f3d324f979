"""Importing stores, guides and distributors through the real endpoint
(`POST /api/people/import?format=csv|json`, admin token), and `import_people` itself.

A file is all or nothing: any bad row, and nothing of the file is imported, not even its
good rows (people import has no skip-bad option; `skip_bad=1` changes nothing). Every
error names the line (the CSV line, header being line 1; or the JSON item's position in
its list) and the field. Good files round-trip, and moving a guide to another store by
re-importing them keeps the store of the orders they already brought.
"""

from __future__ import annotations

import json

import pytest

from live import protocol
from live.imports import import_people
from live.protocol import Brand, CommissionRate, PlanRelease
from live.ops import Actor
from tests.stores import Clock, make_store
from tests.support import ROOM, running_server, test_settings

HEADER = "kind,id,name,brand,region,shop,parent,code,reach\n"
PEOPLE_CSV = HEADER + (
    "shop,s1,West Lake,,Hangzhou,,,,\n"
    "shop,s2,Bund,,Shanghai,,,,\n"
    "guide,g1,Mei,,,s1,,MEI-01,300\n"
    "guide,g2,Lin,,,s2,,LIN-02,\n"
    "distributor,d1,Top,,,,,TOP-01,\n"
    "distributor,d2,Kid,,,,d1,KID-02,50\n"
)
# Good rows that ride along in every bad file: they must not be imported either.
GOOD_ROWS = "shop,s3,Nanjing Road,,Shanghai,,,,\nguide,g3,Jie,,,s3,,JIE-03,\n"


@pytest.fixture
async def server(tmp_path):
    async with running_server(test_settings(tmp_path / "data")) as live:
        response = await post(live, PEOPLE_CSV)
        assert (response.status_code, response.json()) == (200, {"imported": 6, "errors": []})
        yield live


def admin(server) -> dict:
    return {"Authorization": f"Bearer {server.token('admin', room='*')}"}


async def post(server, body: str | bytes, fmt: str = "csv", query: str = ""):
    async with server.http() as http:
        content = body.encode() if isinstance(body, str) else body
        return await http.post(f"/api/people/import?format={fmt}{query}", content=content, headers=admin(server))


async def people(server) -> dict:
    async with server.http() as http:
        response = await http.get("/api/people", headers=admin(server))
        assert response.status_code == 200, response.text
        return response.json()


# --- bad files: a clear error, and nothing imported ----------------------------------------

BAD_CSV = {
    # name: (file, line, field, words the message must contain)
    "unknown store": (HEADER + GOOD_ROWS + "guide,g4,Yu,,,s9,,YU-004,\n", 4, "shop", ["'s9'", "unknown store"]),
    "code of an existing guide": (HEADER + GOOD_ROWS + "guide,g4,Yu,,,s1,,MEI-01,\n", 4, "code", ["'MEI-01'"]),
    "code of an existing distributor": (HEADER + GOOD_ROWS + "guide,g4,Yu,,,s1,,TOP-01,\n", 4, "code", ["'TOP-01'"]),
    "code twice in the file": (HEADER + GOOD_ROWS + "guide,g4,Yu,,,s1,,JIE-03,\n", 4, "code", ["'JIE-03'"]),
    "an id both guide and distributor": (HEADER + GOOD_ROWS + "distributor,g1,Mei,,,,,MEI-99,\n", 4, "id", ["'g1'"]),
    "parent cycle a-b-a": (
        HEADER + GOOD_ROWS + "distributor,da,A,,,,db,DA-001,\ndistributor,db,B,,,,da,DB-001,\n", 4, "parent", ["two levels"],
    ),
    "own parent": (HEADER + GOOD_ROWS + "distributor,dx,X,,,,dx,DX-001,\n", 4, "parent", ["own parent"]),
    "third level under an existing child": (
        HEADER + GOOD_ROWS + "distributor,d3,Grandkid,,,,d2,GK-0003,\n", 4, "parent", ["'d2'", "two levels"],
    ),
    "third level within the file": (
        HEADER + GOOD_ROWS + "distributor,t1,T1,,,,,T1-0001,\ndistributor,t2,T2,,,,t1,T2-0001,\ndistributor,t3,T3,,,,t2,T3-0001,\n",
        5, "parent", ["'t2'", "two levels"],  # t2 has a parent and a child: the middle of three levels
    ),
    "a parent with children given a parent": (
        HEADER + GOOD_ROWS + "distributor,d0,Boss,,,,,BOSS-01,\ndistributor,d1,Top,,,,d0,TOP-01,\n", 5, "parent", ["'d1'", "two levels"],
    ),
    "unknown parent": (HEADER + GOOD_ROWS + "distributor,d4,Orphan,,,,nobody,ORPH-01,\n", 4, "parent", ["'nobody'"]),
    "unknown kind": (HEADER + GOOD_ROWS + "manager,m1,Boss,,,,,,\n", 4, "kind", ["shop, guide or distributor"]),
    "bad reach": (HEADER + GOOD_ROWS + "guide,g4,Yu,,,s1,,YU-004,many\n", 4, "reach", []),
    "bad code": (HEADER + GOOD_ROWS + "guide,g4,Yu,,,s1,,a b,\n", 4, "code", []),
    "unknown store brand": (HEADER + GOOD_ROWS + "shop,s4,Far,acme,,,,,\n", 4, "brand", ["'acme'"]),
    "missing code column": ("kind,id,name,shop\nshop,s3,Nanjing Road,\nguide,g3,Jie,s3\n", 3, "code", ["code"]),
    "missing name column": ("kind,id,shop,code\nshop,s3,,\n", 2, "name", ["name"]),
    "missing kind column": ("id,name,shop,code\ng3,Jie,s1,JIE-03\n", 2, "kind", []),
    "unknown column": ("kind,id,name,email\nshop,s3,Nanjing Road,\nguide,g3,Jie,jie@example.com\n", 3, "email", ["email"]),
    "a guide row with a distributor's column": (HEADER + GOOD_ROWS + "guide,g4,Yu,,,s1,d1,YU-004,\n", 4, "parent", []),
    "more cells than columns": (HEADER + GOOD_ROWS + "guide,g4,Yu,,,s1,,YU-004,,extra\n", 4, None, ["more cells"]),
    "unterminated quote": (HEADER + GOOD_ROWS + 'shop,s4,"Far away,,,,,,\nguide,g4,Yu,,,s4,,YU-004,\n', 4, None, []),
    "stray quote": (HEADER + GOOD_ROWS + 'shop,s4,"Far" away,,,,,,\n', 4, None, []),
    "a store twice": (HEADER + GOOD_ROWS + "shop,s3,Nanjing Road East,,,,,,\n", 4, "id", ["'s3'", "line 2"]),
    "a guide with a brand": (HEADER + GOOD_ROWS + "guide,g4,Yu,default,,s1,,YU-004,\n", 4, "brand",
                             ["'brand' is not for guides", "id, name, shop, code (required); reach"]),
    "a guide without a code": (HEADER + GOOD_ROWS + "guide,g4,Yu,,,s1,,,\n", 4, "code", ["code"]),
    "a store with a parent": (HEADER + GOOD_ROWS + "shop,s4,Far,,,,d1,,\n", 4, "parent",
                              ["id, name (required); region, brand"]),
}


@pytest.mark.parametrize("name", list(BAD_CSV))
async def test_a_bad_csv_row_imports_nothing_and_says_where(server, name):
    body, line, field, words = BAD_CSV[name]
    before = await people(server)
    response = await post(server, body)
    assert response.status_code == 400, response.text
    report = response.json()
    assert report["imported"] == 0 and report["errors"], report
    first = report["errors"][0]
    assert (first["line"], first["field"]) == (line, field), report
    assert all(word in first["message"] for word in words), report
    assert await people(server) == before  # not even the good rows of the file


BAD_JSON = {
    "unknown store": (
        {"shops": [{"id": "s3", "name": "Nanjing Road"}], "guides": [{"id": "g3", "name": "Jie", "shop": "s9", "code": "JIE-03"}]},
        1, "shop", ["'s9'"],
    ),
    "code taken": ({"guides": [{"id": "g3", "name": "Jie", "shop": "s1", "code": "JIE-03"},
                               {"id": "g4", "name": "Yu", "shop": "s1", "code": "LIN-02"}]}, 2, "code", ["'LIN-02'"]),
    "parent cycle": (
        {"distributors": [{"id": "da", "name": "A", "code": "DA-001", "parent": "db"},
                          {"id": "db", "name": "B", "code": "DB-001", "parent": "da"}]},
        1, "parent", ["two levels"],
    ),
    "own parent": ({"distributors": [{"id": "dx", "name": "X", "code": "DX-001", "parent": "dx"}]}, 1, "parent", ["own parent"]),
    "third level": ({"distributors": [{"id": "d3", "name": "G", "code": "GK-0003", "parent": "d2"}]}, 1, "parent", ["two levels"]),
    "unknown parent": ({"distributors": [{"id": "d4", "name": "O", "code": "ORPH-01", "parent": "nobody"}]}, 1, "parent", []),
    "missing field": ({"shops": [{"id": "s3", "name": "Nanjing Road"}, {"id": "s4"}]}, 2, "name", ["name"]),
    "unknown field": ({"shops": [{"id": "s3", "name": "Nanjing Road", "city": "Shanghai"}]}, 1, "city", ["city"]),
    "wrong type": ({"guides": [{"id": "g3", "name": "Jie", "shop": "s1", "code": "JIE-03", "reach": "lots"}]}, 1, "reach", []),
    "not an object": ({"shops": ["s3"]}, 1, None, ["object"]),
    "misspelt list": ({"shops": [{"id": "s3", "name": "Nanjing Road"}], "guide": [{"id": "g3"}]}, 1, "guide", ["guide"]),
    "guides not a list": ({"guides": {"id": "g3", "name": "Jie", "shop": "s1", "code": "JIE-03"}}, 1, "guides", ["list"]),
    "a store twice": ({"shops": [{"id": "s3", "name": "Nanjing Road"}, {"id": "s3", "name": "East"}]}, 2, "id", ["'s3'"]),
    "a list, not an object": ([{"id": "s3", "name": "Nanjing Road"}], 1, None, ["shops"]),
}


@pytest.mark.parametrize("name", list(BAD_JSON))
async def test_a_bad_json_item_imports_nothing_and_says_where(server, name):
    document, line, field, words = BAD_JSON[name]
    before = await people(server)
    response = await post(server, json.dumps(document), "json")
    assert response.status_code == 400, response.text
    report = response.json()
    assert report["imported"] == 0 and report["errors"], report
    first = report["errors"][0]
    assert (first["line"], first["field"]) == (line, field), report
    assert all(word in first["message"] for word in words), report
    assert await people(server) == before


async def test_malformed_json_names_the_line_it_breaks_on(server):
    before = await people(server)
    body = '{"shops": [\n  {"id": "s3", "name": "Nanjing Road"},\n  {"id": "s4" "name": "Far"}\n]}'
    response = await post(server, body, "json")
    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert error["line"] == 3 and "not JSON" in error["message"], error
    assert await people(server) == before


@pytest.mark.parametrize("encoding", ["gbk", "gb18030"])
async def test_a_file_excel_saved_in_gbk_imports(server, encoding):
    """Excel on a Chinese Windows saves "CSV" in GBK (GB18030 is its superset)."""
    body = (HEADER + "门店,s3,南京路店,,上海,,,,\n导购,g3,杰,,,s3,,JIE-03,\n").encode(encoding)
    assert (await post(server, body)).json() == {"imported": 2, "errors": []}
    listed = await people(server)
    assert {"id": "s3", "name": "南京路店", "region": "上海", "brand": "default"} in listed["shops"]
    assert {"id": "g3", "name": "杰", "shop": "s3", "code": "JIE-03", "reach": None} in listed["guides"]


async def test_a_file_neither_utf8_nor_gbk_is_refused_with_nothing_imported(server):
    """UTF-16 (Excel's "Unicode text") is neither: refused, not guessed."""
    before = await people(server)
    response = await post(server, (HEADER + "门店,s3,南京路店,,上海,,,,\n").encode("utf-16"))
    assert response.status_code == 400
    error = response.json()
    assert (error["code"], error["path"]) == ("file_encoding", "$") and "GB18030" in error["message"], error
    assert await people(server) == before


async def test_skip_bad_is_not_an_option_for_people(server):
    """Unlike the catalog's import, a people file is always all or nothing."""
    before = await people(server)
    response = await post(server, HEADER + GOOD_ROWS + "guide,g4,Yu,,,s9,,YU-004,\n", query="&skip_bad=1")
    assert response.status_code == 400 and response.json()["imported"] == 0
    assert await people(server) == before


async def test_import_needs_an_admin_and_a_format(server):
    before = await people(server)
    async with server.http() as http:
        anonymous = await http.post("/api/people/import?format=csv", content=GOOD_ROWS.encode())
        assert anonymous.status_code == 401
        guide = {"Authorization": f"Bearer {server.token('guide', sub='g1')}"}
        assert (await http.post("/api/people/import?format=csv", content=GOOD_ROWS.encode(), headers=guide)).status_code == 403
        unknown = await http.post("/api/people/import?format=xlsx", content=GOOD_ROWS.encode(), headers=admin(server))
        assert unknown.status_code == 400 and unknown.json()["path"] == "$.format"
    assert await people(server) == before


# --- good files -------------------------------------------------------------------------------


async def test_a_csv_import_reads_back_as_written(server):
    listed = await people(server)
    assert listed["shops"] == [
        {"id": "s1", "name": "West Lake", "region": "Hangzhou", "brand": "default"},
        {"id": "s2", "name": "Bund", "region": "Shanghai", "brand": "default"},
    ]
    assert listed["guides"] == [
        {"id": "g1", "name": "Mei", "shop": "s1", "code": "MEI-01", "reach": 300},
        {"id": "g2", "name": "Lin", "shop": "s2", "code": "LIN-02", "reach": None},
    ]
    assert listed["distributors"] == [
        {"id": "d1", "name": "Top", "code": "TOP-01", "brand": "default", "parent": None, "reach": None},
        {"id": "d2", "name": "Kid", "code": "KID-02", "brand": "default", "parent": "d1", "reach": 50},
    ]
    again = await post(server, PEOPLE_CSV)  # the same file again: the same people
    assert again.json() == {"imported": 6, "errors": []}
    assert await people(server) == listed


async def test_chinese_kinds_a_bom_and_blank_cells(server):
    body = "\ufeff" + HEADER + "门店,s3,南京路店,,上海,,,,\n导购,g3,杰,,,s3,,JIE-03,\n分销员,d3,小王,,,,d1,WANG-03,\n"
    response = await post(server, body)
    assert response.json() == {"imported": 3, "errors": []}
    listed = await people(server)
    assert {"id": "s3", "name": "南京路店", "region": "上海", "brand": "default"} in listed["shops"]
    assert {"id": "g3", "name": "杰", "shop": "s3", "code": "JIE-03", "reach": None} in listed["guides"]
    assert {"id": "d3", "name": "小王", "code": "WANG-03", "brand": "default", "parent": "d1", "reach": None} in listed["distributors"]


async def test_the_people_list_imports_back_as_json_into_a_fresh_server(server, tmp_path):
    exported = await people(server)
    document = {group: exported[group] for group in ("shops", "guides", "distributors")}
    async with running_server(test_settings(tmp_path / "other")) as fresh:
        response = await post(fresh, json.dumps(document, ensure_ascii=False), "json")
        assert (response.status_code, response.json()) == (200, {"imported": 6, "errors": []})
        assert await people(fresh) == exported


async def test_a_code_may_move_from_one_person_to_another_in_the_same_file(server):
    """Renaming codes: g1 gives up MEI-01, g2 takes it, in one file."""
    body = HEADER + "guide,g1,Mei,,,s1,,MEI-NEW,300\nguide,g2,Lin,,,s2,,MEI-01,\n"
    assert (await post(server, body)).json() == {"imported": 2, "errors": []}
    codes = {g["id"]: g["code"] for g in (await people(server))["guides"]}
    assert codes == {"g1": "MEI-NEW", "g2": "MEI-01"}


# --- moving a guide keeps history -------------------------------------------------------------


async def _sold_by(store, viewer: str, guide: str, sku: str) -> str:
    """A viewer clicks the guide's link, buys and pays: the order id."""
    await store.record_click((await store.create_link(guide, ROOM)).code, viewer)
    [event] = await store.plan_release(ROOM, PlanRelease(sku=sku, quantity=5), Actor("admin", "tests"))
    release = protocol.decode_event(event.data).release.id
    result, _ = await store.claim(ROOM, release, viewer, f"{viewer}-{sku}")
    order, _ = await store.checkout(ROOM, result.hold.id, viewer)
    paid, _ = await store.pay(ROOM, order.id, viewer)
    return paid


async def test_moving_a_guide_to_another_store_keeps_the_store_of_their_orders(server):
    store = server.app.state.live.ops
    await store.put_brand(Brand("default", "Default", rates=[CommissionRate("brand", 1, 1000)]))
    before = await _sold_by(store, "v1", "g1", "P2")
    assert (before.guide, before.shop) == ("g1", "s1")

    moved = await post(server, HEADER + "guide,g1,Mei,,,s2,,MEI-01,300\n")
    assert moved.json() == {"imported": 1, "errors": []}
    assert {"id": "g1", "name": "Mei", "shop": "s2", "code": "MEI-01", "reach": 300} in (await people(server))["guides"]

    after = await _sold_by(store, "v2", "g1", "P3")
    orders = {o.id: (o.guide, o.shop) for o in await store.orders(ROOM)}
    assert orders == {before.id: ("g1", "s1"), after.id: ("g1", "s2")}  # history kept; new orders follow the move

    numbers, _ = await store.numbers(ROOM)
    stores = {row.shop: (row.orders, row.gmv) for row in numbers.stores}
    assert stores == {"s1": (1, before.amount), "s2": (1, after.amount)}

    async with server.http() as http:
        ledger = (await http.get("/api/ledger", headers=admin(server))).json()
    totals = {shop: row["total"] for shop, row in ledger["totals"]["stores"].items()}
    assert totals == {"s1": before.amount // 10, "s2": after.amount // 10}  # the commission stays with its store
    assert ledger["totals"]["guides"]["g1"]["total"] == (before.amount + after.amount) // 10


# --- import_people directly, on a bare store --------------------------------------------------


async def test_import_people_on_a_store_checks_everything_before_writing(tmp_path):
    store = make_store("local", tmp_path / "store", Clock())
    await store.open()
    try:
        report = await import_people(store, HEADER + "guide,g1,Mei,,,s1,,MEI-01,\nshop,s1,West Lake,,,,,,\n", "csv")
        assert report.as_dict() == {"imported": 2, "errors": []}  # a store may come after its guides in the file
        bad = HEADER + "shop,s2,Bund,,,,,,\nguide,g2,Lin,,,s2,,LIN-02,\ndistributor,d1,Top,,,,d1,TOP-01,\n"
        report = await import_people(store, bad, "csv")
        assert report.as_dict()["imported"] == 0
        assert [(e.line, e.field) for e in report.errors] == [(4, "parent")]
        assert str(report.errors[0]).startswith("line 4, parent: ")
        assert ([s.id for s in await store.shops()], [g.id for g in await store.guides()], await store.distributors()) == (
            ["s1"], ["g1"], [],
        )
    finally:
        await store.close()
