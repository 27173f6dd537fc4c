"""Tables of the IoT connector: reading marks and alert episodes.

Migration `hub/core/migrations/versions/0003_iot.py` creates them. Both change in the same
transaction as the outbox rows of a batch, before its MQTT messages are acknowledged.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, DateTime, Float, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from hub.core.models import Base


class IotReading(Base):
    """One applied reading: its key dedupes redeliveries, its values rebuild open windows after a restart.

    A device's newest reading is always in an open window and never pruned, so the device's
    watermark (which closes windows) is simply the newest `ts_ms` stored for it.
    """

    __tablename__ = "hub_iot_reading"

    # (device, ts, seq) and not (device, seq): a device that reboots starts its sequence again.
    device_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    ts_ms: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    values: Mapped[str] = mapped_column(Text)  # JSON written with orjson: thousands of rows a second


class IotEpisode(Base):
    """The state of one rule on one device (idle, pending or firing), so a restart never re-fires."""

    __tablename__ = "hub_iot_episode"

    device_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    rule: Mapped[str] = mapped_column(String(64), primary_key=True)
    state: Mapped[str] = mapped_column(String(16))
    since_ms: Mapped[int] = mapped_column(BigInteger)  # when the condition started: the episode's key
    value: Mapped[float] = mapped_column(Float)
    last_ms: Mapped[int] = mapped_column(BigInteger)  # newest reading applied; older ones are ignored
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
