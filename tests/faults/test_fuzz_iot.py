"""MQTT telemetry fuzzed: any topic and payload is a reading or a dead letter, and counts add up.

    parse       arbitrary bytes, malformed JSON, invalid UTF-8, wrong types, odd times, 5 MB payloads
                → a Reading or a Rejection naming the field, never an exception
    processor   batches of such deliveries for the simulated factory → every delivery is accepted,
                a duplicate or dead-lettered (received = accepted + duplicates + dead-lettered),
                every event fits its schema, and the batch commits to SQLite
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from connectors.iot.devices import load_registry
from connectors.iot.events import SCHEMAS
from connectors.iot.processor import Delivery, IotConfig, Processor
from connectors.iot.readings import OUTCOME_OF_REASON, Reading, Rejection, parse_reading
from connectors.iot.rules import load_rules
from connectors.iot.simulator import SIMULATED_DEVICES
from connectors.iot.store import commit_batch
from hub.core.db import Database
from hub.core.schemas import registry
from hub.core.topology import Topology
from tests.faults.fuzzing import FEW, FUZZ, bodies, mutated, odd_text

PREFIX = "fuzz/factory"
NOW = int(dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.timezone.utc).timestamp() * 1000)
DEVICES = load_registry({}, SIMULATED_DEVICES)
CONFIG = IotConfig(system="iot", topic_prefix=PREFIX, devices=DEVICES, rules=load_rules(), window_ms=60_000,
                   grace_ms=10_000, max_skew_ms=300_000, retention_ms=3_600_000)
GOOD = {"device_id": "HC100-2403-0178", "ts": "2026-11-20T08:15:30.120Z", "seq": 18231,
        "metrics": {"temperature": 71.3, "vibration": 2.4, "current": 152.0, "runtime_hours": 10234.5}}
times = st.one_of(st.sampled_from(["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00",
                                   "1969-12-31T23:59:59Z",
                                   "2026-11-20T08:15:30", "2026-11-20T08:15:30.120z", 0, -1, 10**14, 2**63]),
                  st.integers(), st.datetimes(timezones=st.timezones()).map(dt.datetime.isoformat), odd_text)
GOOD_TOPICS = [f"{PREFIX}/苏州工厂/总装二线/{d}/telemetry" for d in DEVICES.devices]
topics = st.one_of(st.sampled_from(GOOD_TOPICS), st.text(max_size=60), st.just(f"{PREFIX}///x/telemetry"),
                   st.just(f"{PREFIX}/p/l/unknown-device/telemetry"), st.just(PREFIX))


@st.composite
def payloads(draw: st.DrawFn, device: str) -> bytes:
    """A reading of `device`, mostly good (over ten minutes, so windows close), else with parts wrong."""
    reading = {**GOOD, "device_id": device, "seq": draw(st.integers(0, 50)),
               "ts": draw(st.integers(NOW - 600_000, NOW))}
    kind = draw(st.integers(0, 9))
    if kind <= 4:
        return dumps(reading)
    if kind <= 6:
        return dumps(draw(mutated(reading)))
    if kind == 7:
        return dumps({**reading, "ts": draw(times)})
    if kind == 8:
        return dumps({**reading, "metrics": draw(st.dictionaries(
            st.one_of(st.sampled_from(list(GOOD["metrics"])), st.text(max_size=10)),
            st.one_of(st.floats(), st.integers(), st.just(1e308), odd_text), max_size=4))})
    return draw(bodies)


def dumps(value: Any) -> bytes:
    """JSON as a device might send it (big integers, NaN and Infinity included)."""
    return json.dumps(value, ensure_ascii=False, default=str).encode()


@st.composite
def deliveries(draw: st.DrawFn) -> Delivery:
    topic = draw(st.sampled_from(GOOD_TOPICS) if draw(st.integers(0, 9)) < 8 else topics)
    device = topic.split("/")[-2] if topic.count("/") >= 2 else "?"
    return Delivery(topic, draw(payloads(device)))


@FUZZ
@given(topic=topics, payload=st.one_of(deliveries().map(lambda d: d.payload), bodies))
def test_any_message_is_a_reading_or_a_rejection(topic: str, payload: bytes) -> None:
    parsed = parse_reading(topic, payload, PREFIX, NOW, CONFIG.max_skew_ms)
    assert isinstance(parsed, Reading | Rejection)
    if isinstance(parsed, Rejection):
        assert parsed.reason in OUTCOME_OF_REASON and "\n" not in parsed.error


def test_every_delivery_is_accepted_a_duplicate_or_dead_lettered(fuzz_db: Database, fuzz_topology: Topology) -> None:
    schemas = registry()

    @FEW
    @given(batches=st.lists(st.lists(deliveries(), max_size=12), min_size=1, max_size=3))
    def check(batches: list[list[Delivery]]) -> None:
        processor = Processor(CONFIG)
        for batch in batches:
            result = processor.process(batch, NOW)
            rejected = [x for x in result.letters if x.origin.startswith("mqtt:")]
            assert sum(result.outcomes.values()) == len(batch)
            assert len(rejected) == len(batch) - result.outcomes["accepted"] - result.outcomes["duplicate"]
            for event in result.events:
                schemas.validate(SCHEMAS[event.type], event.data)
            with fuzz_db.transaction() as session:
                commit_batch(session, result, fuzz_topology)
            _clear(fuzz_db)

    check()


def _clear(fuzz_db: Database) -> None:
    """Forget the stored marks and episodes, so the next example starts from nothing."""
    from connectors.iot.store import clear_state

    with fuzz_db.transaction() as session:
        clear_state(session)
