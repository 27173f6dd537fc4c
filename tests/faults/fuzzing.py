"""What the fuzz tests share: one hypothesis profile, the strategies of bad input, the accounting check.

FUZZ is derandomized (the same examples on every run and every machine) and keeps no example
database, so CI runs are repeatable; examples are few and bodies of 5 MB come from `st.just`.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from connectors.base import Connector, Stream
from hub.app.pipeline import StreamSync, SyncResult
from hub.core import state
from hub.core.db import Database
from hub.core.models import OutboxRow
from hub.core.topology import Topology

FUZZ = settings(max_examples=60, deadline=None, derandomize=True, database=None,
                phases=[Phase.explicit, Phase.generate, Phase.shrink],  # no explain: it traces every line
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large])
FEW = settings(FUZZ, max_examples=15)  # for examples that run a whole sync

FIVE_MB = 5_000_000
HUGE_TEXT = "长" * 100_000
mojibake = st.binary(max_size=20).map(lambda b: b.decode("latin-1"))
odd_text = st.sampled_from(["", " ", "\x00", "\ufeff", "\ufffd", "NaN", "-Infinity", "1E+999999", "9" * 400,
                            "１２３", "²", "①", "٣", "1E+999999999", "0000-00-00", "99991231", "<x/>", "&amp;",
                            "\r\n", "null"])
odd_numbers = st.sampled_from([0, -1, 2**31, 10**12, 2**53 + 1, 2**63, -(2**63) - 1, 10**30, 1e308, -0.0, 5e-324])
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=40),
                    mojibake, odd_text, odd_numbers)
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                        st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                      max_leaves=12)
invalid_utf8 = st.builds(lambda head, bad, tail: head + bad + tail, st.binary(max_size=40),
                         st.sampled_from([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\x80"]),
                         st.binary(max_size=40))
bodies = st.one_of(st.binary(max_size=2000), st.text(max_size=500).map(str.encode), invalid_utf8,
                   st.just(b"\xff" * FIVE_MB), st.just(b"{" * FIVE_MB), st.just(b"[" * 100_000 + b"]" * 100_000))


def records(fields: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    """Records whose fields hold anything: right, wrong, missing, nested, invalid text."""
    return st.fixed_dictionaries({}, optional={name: values for name in fields})


@st.composite
def mutated(draw: st.DrawFn, sample: Any) -> Any:
    """A sample with parts replaced by anything, dropped or added to; one part in 20, 6 or 2 is touched.

    Shrinks to the sample itself, so a failure shows the few parts that matter.
    """
    return _mutate(draw, sample, draw(st.sampled_from([20, 6, 2])), 0)


def mutated_object(sample: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """A mutated sample that is still a JSON object (what a client guarantees about an answer)."""
    return mutated(sample).filter(lambda value: isinstance(value, dict))


def _mutate(draw: st.DrawFn, value: Any, odds: int, depth: int) -> Any:
    def hit() -> bool:
        return bool(draw(st.integers(0, odds - 1)) == odds - 1)

    if hit():
        return draw(st.one_of(odd_text, scalars, values, st.just(HUGE_TEXT)))
    if isinstance(value, dict) and depth < 6:
        out = {k: _mutate(draw, v, odds, depth + 1) for k, v in value.items() if not hit()}
        return {**draw(st.dictionaries(st.text(max_size=8), values, max_size=2)), **out} if hit() else out
    if isinstance(value, list) and depth < 6:
        items = [_mutate(draw, item, odds, depth + 1) for item in value if not hit()]
        return items + draw(st.lists(values, max_size=2)) if hit() else items
    return value


def outbox_count(db: Database) -> int:
    """Rows in the outbox (events and dead letters)."""
    with db.transaction() as session:
        return int(session.scalar(select(func.count()).select_from(OutboxRow)) or 0)


def sync_from_scratch(db: Database, topology: Topology, connector: Connector, stream: Stream) -> SyncResult:
    """One sync from no cursor; asserts received = published + dead-lettered = the rows it added."""
    with db.transaction() as session:
        state.reset(session, connector.name)
    return sync_again(db, topology, connector, stream)


def sync_again(db: Database, topology: Topology, connector: Connector, stream: Stream) -> SyncResult:
    """One sync from the stored cursor, with the same accounting as sync_from_scratch."""
    before = outbox_count(db)
    result = StreamSync(db, topology, connector, stream).run()
    assert result.received == result.published + result.dead_lettered == outbox_count(db) - before
    return result
