"""A simulated MES database: the work-order table of a Chinese MES, created and seeded in any SQLAlchemy URL.

`mes_work_order` holds make-to-order work orders (工单) for the SOAP ERP's sales orders
(SO-2026-000031 …) and materials (MAT-10001 …), with Chinese product names, statuses written in
Chinese, planned dates as VARCHAR (as the planning module writes them) and real timestamps for
actual dates and updated_at. Many rows share one updated_at (a shift's batch report) to exercise
keyset paging. `create(bad_rows=True)` adds rows the mapping must dead-letter.

    mes = MesDatabase("sqlite:///var/mes.db").create()
    mes.update("MO-202611-0003", good_qty=5, status="生产中")     # updated_at moves past every row

    python -m connectors.testing.mes_db --url sqlite:///./var/mes.db      # for the demo
"""

from __future__ import annotations

import argparse
import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    create_engine,
    func,
    select,
    update,
)
from sqlalchemy.engine import Engine

from connectors.testing.erp_data import MATERIALS

TABLE_NAME = "mes_work_order"
BATCH_REPORT = dt.datetime(2026, 11, 20, 8, 0, 0)  # the night shift's report: many rows, one instant
STATUSES = ("计划", "已下达", "生产中", "生产中", "已完工", "已关闭", "暂停")
LINES = (("SZ01", "总装一线"), ("SZ01", "总装二线"), ("SZ01", "机加车间"), ("NB01", "焊接线"), ("CD01", "装配线"))

metadata = MetaData()
work_orders = Table(
    TABLE_NAME, metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("wo_no", String(32), nullable=False, comment="工单号"),
    Column("so_no", String(32), comment="销售订单号"),
    Column("so_line", Integer, comment="销售订单行号"),
    Column("item_code", String(40), comment="物料编码"),
    Column("item_name", String(100), comment="物料名称"),
    Column("plan_qty", Numeric(18, 3), comment="计划数量"),
    Column("good_qty", Numeric(18, 3), comment="合格数量"),
    Column("scrap_qty", Numeric(18, 3), comment="报废数量"),
    Column("uom", String(10), comment="单位"),
    Column("status", String(16), comment="工单状态"),
    Column("plan_start", String(19), comment="计划开工 yyyy-MM-dd HH:mm:ss"),
    Column("plan_end", String(19), comment="计划完工 yyyy-MM-dd HH:mm:ss"),
    Column("act_start", DateTime, comment="实际开工"),
    Column("act_end", DateTime, comment="实际完工"),
    Column("plant", String(8), comment="工厂"),
    Column("line_name", String(32), comment="产线"),
    Column("updated_at", DateTime, nullable=False, comment="最后更新时间"),
    Index("ix_mes_work_order_updated", "updated_at", "id"),
)


def seed_rows(n: int = 40, *, bad_rows: bool = False) -> list[dict[str, Any]]:
    """Deterministic work orders; every third one shares BATCH_REPORT as updated_at."""
    rows = [_work_order(i) for i in range(n)]
    return rows + (_bad_rows() if bad_rows else [])


def _work_order(i: int) -> dict[str, Any]:
    number, name, unit, _price = MATERIALS[(i * 7) % len(MATERIALS)]
    plant, line = LINES[i % len(LINES)]
    status = STATUSES[i % len(STATUSES)]
    planned = Decimal((250, 800, 1200)[i % 3] if unit == "kg" else (1, 2, 5, 10, 20)[i % 5])
    start = dt.datetime(2026, 11, 2, 8) + dt.timedelta(days=i % 15, hours=(i * 3) % 9)
    done = {"计划": Decimal(0), "已下达": Decimal(0), "生产中": (planned / 2).to_integral_value(),
            "已完工": planned, "已关闭": planned, "暂停": (planned / 3).to_integral_value()}[status]
    started = status in ("生产中", "已完工", "已关闭", "暂停")
    return {
        "wo_no": f"MO-202611-{i + 1:04d}", "so_no": f"SO-2026-{31 + i % 30:06d}", "so_line": 1 + i % 3,
        "item_code": number, "item_name": name, "plan_qty": planned, "good_qty": done,
        "scrap_qty": Decimal(1 if started and i % 4 == 0 else 0), "uom": unit, "status": status,
        "plan_start": f"{start:%Y-%m-%d %H:%M:%S}", "plan_end": f"{start + dt.timedelta(days=6):%Y-%m-%d %H:%M:%S}",
        "act_start": start + dt.timedelta(hours=2) if started else None,
        "act_end": start + dt.timedelta(days=5) if status in ("已完工", "已关闭") else None,
        "plant": plant, "line_name": line,
        "updated_at": BATCH_REPORT if i % 3 == 0 else dt.datetime(2026, 11, 10, 6) + dt.timedelta(minutes=i * 97),
    }


def _bad_rows() -> list[dict[str, Any]]:
    """An impossible planned finish, a unit nobody knows, a row without its work order number."""
    base = _work_order(3)
    return [
        {**base, "wo_no": "MO-202611-9001", "plan_end": "2026-02-30 08:00:00"},
        {**base, "wo_no": "MO-202611-9002", "uom": "箱子"},
        {**base, "wo_no": "", "so_no": "SO-2026-000033"},
    ]


class MesDatabase:
    """The simulated MES schema in one database; `update()` changes a row like the MES does."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine: Engine = create_engine(url, pool_pre_ping=True)
        self.clock = dt.datetime(2026, 11, 20, 9, 0, 0)

    def create(self, rows: int = 40, *, bad_rows: bool = False) -> MesDatabase:
        """Drop and create the table, then insert the seeded rows."""
        metadata.drop_all(self.engine, tables=[work_orders])
        metadata.create_all(self.engine, tables=[work_orders])
        self.insert(*seed_rows(rows, bad_rows=bad_rows))
        return self

    def insert(self, *rows: dict[str, Any]) -> None:
        """Insert work orders (columns as in `work_orders`)."""
        if rows:
            with self.engine.begin() as conn:
                conn.execute(work_orders.insert(), list(rows))

    def tick(self) -> dt.datetime:
        """An updated_at later than every row's."""
        with self.engine.connect() as conn:
            latest = conn.execute(select(func.max(work_orders.c.updated_at))).scalar()
        latest = latest if isinstance(latest, dt.datetime) else self.clock
        self.clock = max(self.clock, latest) + dt.timedelta(seconds=1)
        return self.clock

    def update(self, *wo_nos: str, at: dt.datetime | None = None, **values: Any) -> dt.datetime:
        """Change work orders, all with one updated_at (`at`, or a new instant after every row)."""
        stamp = at or self.tick()
        with self.engine.begin() as conn:
            conn.execute(update(work_orders).where(work_orders.c.wo_no.in_(wo_nos)).values(**values, updated_at=stamp))
        return stamp

    def rows(self) -> list[dict[str, Any]]:
        """Every row, by id."""
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(select(work_orders).order_by(work_orders.c.id)).mappings()]

    def drop(self) -> None:
        """Drop the table."""
        metadata.drop_all(self.engine, tables=[work_orders])

    def dispose(self) -> None:
        """Close the engine's connections."""
        self.engine.dispose()


def main(argv: list[str] | None = None) -> None:
    """Create and seed the MES table at --url (it is dropped first)."""
    parser = argparse.ArgumentParser(description="Simulated MES database for the CRM hub")
    parser.add_argument("--url", default="sqlite:///./var/mes.db")
    parser.add_argument("--rows", type=int, default=40)
    parser.add_argument("--no-bad-rows", action="store_true", help="leave out the rows mappings must reject")
    args = parser.parse_args(argv)
    if args.url.startswith("sqlite:///"):
        from pathlib import Path

        Path(args.url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    mes = MesDatabase(args.url).create(args.rows, bad_rows=not args.no_bad_rows)
    print(f"MES table {TABLE_NAME} at {mes.engine.url.render_as_string(hide_password=True)}: {len(mes.rows())} rows")
    print(f"  HUB_MES__URL={mes.engine.url.render_as_string(hide_password=True)}")
    mes.dispose()


if __name__ == "__main__":
    main()
