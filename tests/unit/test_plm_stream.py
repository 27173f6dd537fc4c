"""The PLM products stream against the simulator: latest released revisions only, cursors, ETags, bad rows."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import pytest

from connectors import load_connector
from connectors.base import Page
from connectors.plm.client import PlmClient
from connectors.plm.streams import (
    PartStream,
    Position,
    attribute_texts,
    latest_released_revision,
    revision_order,
)
from connectors.testing.plm_data import CATALOGUE, CHINA, PlmStore, revision_row, seed
from connectors.testing.plm_server import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, PlmServer
from hub.core.errors import ConfigError
from hub.core.settings import load_settings

PUBLISHED = {"FG-HC100-SS": "B", "FG-HC100-CS": "A", "FG-HC200-SS": "B", "MAT-10001": "A", "MAT-10002": "C",
             "MAT-10007": "A", "MAT-10019": "01"}


@pytest.fixture
def plm() -> Iterator[PlmServer]:
    with PlmServer(store=seed(bad_rows=False)) as server:
        yield server


@pytest.fixture
def client(plm: PlmServer) -> Iterator[PlmClient]:
    c = PlmClient(plm.base_url, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, retries=0, timeout_s=5.0)
    yield c
    c.close()


def stream(client: PlmClient, page_size: int = 4) -> PartStream:
    return PartStream(lambda: client, page_size)


def published(pages: list[Page]) -> dict[str, str]:
    return {r.key: r.payload["revision"] for p in pages for r in p.records}


@pytest.mark.parametrize("page_size", [1, 3, 100])
def test_only_the_latest_released_revision_of_each_part_is_published(client: PlmClient,
                                                                     page_size: int) -> None:
    pages = list(stream(client, page_size).read(None))
    records = [r for p in pages for r in p.records]
    assert published(pages) == PUBLISHED and len(records) == len(PUBLISHED)  # HC200 A is never published
    assert all(r.payload["lifecycleState"] == "RELEASED" for r in records)
    assert "FG-FYF500-SS" not in published(pages)  # INWORK only


def test_a_record_carries_bom_header_and_attributes_as_text(client: PlmClient) -> None:
    record = next(r for p in stream(client).read(None) for r in p.records if r.key == "FG-HC100-SS")
    assert record.version == record.payload["modifiedAt"]
    assert record.payload["bom"]["itemCount"] == 42
    assert record.payload["attributeTexts"] == {
        "产品线": "搅拌设备", "功率": "100kW", "材质": "不锈钢", "电压": "380V", "防护等级": "IP55",
        "BOM编号": "BOM-FG-HC100-SS", "BOM类型": "EBOM", "BOM行数": "42"}
    assert json.loads(record.raw)["number"] == "FG-HC100-SS"


def test_a_rerun_from_the_last_cursor_reads_nothing_thanks_to_the_etag(plm: PlmServer,
                                                                       client: PlmClient) -> None:
    pages = list(stream(client).read(None))
    cursor = pages[-1].cursor
    assert json.loads(json.dumps(cursor)) == cursor and cursor["etag"]
    before = plm.call_count("/api/v1/parts")
    assert list(stream(client).read(cursor)) == []
    assert plm.call_count("/api/v1/parts") == before + 1  # one conditional GET, answered 304


def test_a_cursor_without_etag_rereads_the_boundary_and_publishes_nothing(client: PlmClient) -> None:
    pages = list(stream(client).read(None))
    cursor = {k: v for k, v in pages[-1].cursor.items() if k != "etag"}
    assert list(stream(client).read(cursor)) == []


def test_an_inwork_change_moves_the_cursor_and_publishes_nothing(plm: PlmServer, client: PlmClient) -> None:
    cursor = list(stream(client).read(None))[-1].cursor
    plm.store.modify("FG-HC100-SS", "C", name="HC-100 不锈钢搅拌设备（改型中）")
    pages = list(stream(client).read(cursor))
    assert [len(p.records) for p in pages] == [0]
    assert pages[-1].cursor["after_number"] == "FG-HC100-SS" and pages[-1].cursor["after_revision"] == "C"
    assert list(stream(client).read(pages[-1].cursor)) == []


def test_releasing_a_new_revision_publishes_it_and_not_the_older_one(plm: PlmServer,
                                                                     client: PlmClient) -> None:
    cursor = list(stream(client).read(None))[-1].cursor
    plm.store.modify("FG-HC100-SS", "B", lifecycleState="OBSOLETE")
    plm.store.modify("FG-HC100-SS", "C", lifecycleState="RELEASED")
    plm.store.modify("FG-HC100-CS", "A", name="HC-100 碳钢搅拌设备（新版铭牌）")
    pages = list(stream(client).read(cursor))
    assert published(pages) == {"FG-HC100-SS": "C", "FG-HC100-CS": "A"}


def test_an_older_released_revision_touched_later_is_not_published(plm: PlmServer,
                                                                   client: PlmClient) -> None:
    cursor = list(stream(client).read(None))[-1].cursor
    plm.store.modify("FG-HC200-SS", "A", name="HC-200 搅拌设备（旧版）")  # B is still the latest released
    assert published(list(stream(client).read(cursor))) == {}


def test_rows_sharing_one_modified_at_are_not_lost_at_a_page_boundary(client: PlmClient,
                                                                      plm: PlmServer) -> None:
    moment = dt.datetime(2026, 12, 1, 8, 0, tzinfo=CHINA)
    for n in range(5):
        product = CATALOGUE[6]
        row = revision_row(product, "A", "RELEASED", 500 + n)
        row["number"] = f"MAT-2000{n}"
        plm.store.add(row, moment)
    first = list(stream(client, page_size=2).read(None))
    middle = next(p.cursor for p in first if p.cursor["after_number"] == "MAT-20001")
    rest = published(list(stream(client, page_size=2).read(middle)))
    assert {"MAT-20002", "MAT-20003", "MAT-20004"} <= set(rest) and "MAT-20001" not in rest


def test_bad_rows_are_rejected_with_the_reason_and_the_rest_goes_on() -> None:
    with PlmServer(store=seed(bad_rows=True)) as server:
        client = PlmClient(server.base_url, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, retries=0)
        pages = list(stream(client).read(None))
        client.close()
    reasons = sorted(reason for p in pages for _, reason in p.rejected)
    assert reasons == ["products: modifiedAt is not an ISO 8601 time with offset",
                       "products: row without number"]
    assert set(PUBLISHED) <= set(published(pages))
    assert "FG-BAD-UNIT" in published(pages)  # released, with a unit the mapping does not know
    assert all(json.loads(raw) for p in pages for raw, _ in p.rejected)


def test_building_the_connector_and_its_streams_touches_no_network() -> None:
    settings = load_settings(plm={"base_url": "http://127.0.0.1:9", "client_secret": "x"})
    connector = load_connector("plm", settings)
    [products] = connector.streams()
    assert (products.name, products.entity, products.mapping) == ("products", "product", "plm/product")
    assert products.primary_key == ("number",) and products.cursor_field == "modifiedAt"
    assert connector.system == "plm"


def test_a_stored_cursor_with_a_broken_time_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="plm cursor"):
        Position.from_cursor({"modified_since": "last tuesday"})


@pytest.mark.parametrize(("revisions", "latest"), [
    ([("A", "RELEASED"), ("B", "RELEASED"), ("C", "INWORK")], "B"),
    ([("A", "OBSOLETE"), ("B", "INWORK")], None),
    ([("Z", "RELEASED"), ("AA", "RELEASED")], "AA"),
    ([("9", "RELEASED"), ("10", "RELEASED")], "10"),
    ([], None),
])
def test_latest_released_revision(revisions: list[tuple[str, str]], latest: str | None) -> None:
    master: dict[str, Any] = {"revisions": [{"revision": r, "lifecycleState": s} for r, s in revisions]}
    assert latest_released_revision(master) == latest
    assert revision_order("B") < revision_order("AA")


@pytest.mark.parametrize("revisions", [5, True, "B", {"revision": "B"}, None])
def test_a_part_master_without_a_list_of_revisions_has_no_released_revision(revisions: Any) -> None:
    assert latest_released_revision({"revisions": revisions}) is None


def test_attribute_texts_turn_values_into_text_and_skip_own_fields() -> None:
    item = {"attributes": {"model": "X", "power_kw": 7.5, "explosionProof": True, "ratedSpeed": 1450,
                           "blank": "", "nested": {"a": 1}}}
    assert attribute_texts(item, {"itemCount": 3}) == {
        "功率": "7.5kW", "explosionProof": "是", "ratedSpeed": "1450", "BOM行数": "3"}


def test_the_store_answers_modified_since_inclusively() -> None:
    store = PlmStore()
    moment = dt.datetime(2026, 1, 1, tzinfo=CHINA)
    store.add(revision_row(CATALOGUE[0], "A", "RELEASED", 1), moment)
    assert store.page(moment, 1, 10)[1] == 1 and store.page(moment + dt.timedelta(seconds=1), 1, 10)[1] == 0
