"""Every setting of the hub, read once from `HUB_…` environment variables and validated at start.

Nested settings use a double underscore: `HUB_SOAP_ERP__URL`, `HUB_BUS__DELIVERY_LIMIT`.
Secrets are `SecretStr`: they never print, log or land in error texts. Nothing else in the
project reads `os.environ`.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import os
import re
import secrets
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, EnvSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict

from hub.core.errors import ConfigError

log = logging.getLogger(__name__)

DEFAULT_SUBSCRIBERS: dict[str, list[str]] = {
    # A CRM's sales module: golden masters, orders, contracts' results, receivables, inventory.
    "crm.sales": ["mdm.#", "erp.order.#", "src.*.order.#", "src.*.receivable.#", "src.*.inventory.#",
                  "channel.inventory.#", "wecom.#"],
    # A CRM's service module: device alerts and telemetry, maintenance tickets, production progress.
    "crm.service": ["iot.device.#", "service.#", "mes.#"],
    # MDM intake: every source's masters.
    "mdm.intake": ["src.*.customer.#", "src.*.product.#", "src.*.channel.#", "wecom.contact.#"],
    # Commands for the ERP: a CRM contract became active, create the sales order.
    "erp.commands": ["crm.contract.activated.#"],
}


def _existing_file(value: Path | None) -> Path | None:
    """A configured file must be there at start (the message names the setting, not the path)."""
    if value is not None and not value.is_file():
        raise ValueError("no such file")
    return value


def _cert_with_key(cert: Path | None, key: Path | None, prefix: str) -> None:
    """A client certificate is useless without its key, and the other way round."""
    if (cert is None) != (key is None):
        raise ValueError(f"{prefix}_CERT_PATH and {prefix}_KEY_PATH go together: set both or neither")


class BusSettings(BaseModel):
    """RabbitMQ connection and topology knobs."""

    url: SecretStr = SecretStr("amqp://guest:guest@127.0.0.1:5672/%2F")
    heartbeat_s: int = Field(30, ge=0, le=600)
    connect_timeout_s: float = Field(10.0, gt=0)
    confirm_timeout_s: float = Field(30.0, gt=0)
    prefetch: int = Field(256, ge=1, le=65535)
    delivery_limit: int = Field(5, ge=1, le=1000)
    max_length: int | None = Field(None, ge=1, description="messages a subscriber queue may hold; then "
                                   "the broker refuses publishes and the outbox keeps them")
    events_exchange: str = "hub.events"
    dead_exchange: str = "hub.dlx"
    dead_queue: str = "hub.dead"
    subscribers: dict[str, list[str]] = Field(default_factory=lambda: dict(DEFAULT_SUBSCRIBERS))
    hub_queues: list[str] = Field(default_factory=lambda: ["erp.commands", "mdm.intake"],
                                  description="subscriber queues the hub's own workers consume")
    users: dict[str, SecretStr] = Field(default_factory=dict, description="RabbitMQ users for the "
                                        "definitions file: admin, hub, or a subscriber queue name → password")
    # *_path, not *_file: HUB_…_FILE variables name secret files (SecretFilesSource)
    tls_ca_path: Path | None = Field(None, description="PEM CA bundle that signs the broker's certificate; "
                                     "empty: the system's CAs")
    tls_cert_path: Path | None = Field(None, description="PEM client certificate, for a broker that requires one")
    tls_key_path: Path | None = Field(None, description="PEM private key of the client certificate")
    tls_server_name: str | None = Field(None, min_length=1, description="host name the broker's certificate "
                                        "must carry; empty: the URL's host")

    @field_validator("subscribers")
    @classmethod
    def _patterns_not_empty(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        empty = [name for name, patterns in value.items() if not patterns]
        if empty:
            raise ValueError(f"subscriber queues without binding patterns: {', '.join(empty)}")
        return value

    _existing_files = field_validator("tls_ca_path", "tls_cert_path", "tls_key_path")(_existing_file)

    @model_validator(mode="after")
    def _tls_consistent(self) -> BusSettings:
        _cert_with_key(self.tls_cert_path, self.tls_key_path, "HUB_BUS__TLS")
        tls_set = any(v is not None for v in (self.tls_ca_path, self.tls_cert_path, self.tls_server_name))
        if tls_set and not self.url.get_secret_value().lower().startswith("amqps://"):
            raise ValueError("HUB_BUS__TLS_… settings need an amqps:// HUB_BUS__URL (TLS port, usually 5671)")
        return self


class RelaySettings(BaseModel):
    """Outbox relay batch size and pacing."""

    batch_size: int = Field(1000, ge=1, le=50000)
    idle_poll_s: float = Field(0.5, gt=0)
    max_backoff_s: float = Field(30.0, gt=0)


class SoapErpSettings(BaseModel):
    """The SOAP ERP connector (Kingdee / Yonyou / Dynamics style web service)."""

    system: str = "erp"
    wsdl_url: str = "http://127.0.0.1:8790/erp?wsdl"
    username: str = "hub"
    password: SecretStr = SecretStr("")
    timeout_s: float = Field(15.0, gt=0)
    page_size: int = Field(200, ge=1, le=5000)
    retries: int = Field(3, ge=0, le=10)
    overlap_s: int = Field(0, ge=0, description="re-read this many seconds before the checkpoint")


_SQL_IDENTIFIER = r"^[A-Za-z_][A-Za-z0-9_]{0,62}$"
DEFAULT_MES_COLUMNS: dict[str, str] = {
    # canonical name → column of the MES work-order table (these are the simulator's names)
    "id": "id", "updated_at": "updated_at", "work_order_no": "wo_no", "sales_order_no": "so_no",
    "sales_order_line": "so_line", "product_no": "item_code", "product_name": "item_name",
    "planned_qty": "plan_qty", "done_qty": "good_qty", "scrap_qty": "scrap_qty", "unit": "uom",
    "status": "status", "planned_start": "plan_start", "planned_finish": "plan_end",
    "actual_start": "act_start", "actual_finish": "act_end", "plant": "plant", "line": "line_name",
}
MES_REQUIRED_COLUMNS = ("id", "updated_at", "work_order_no")


class SapRfcSettings(BaseModel):
    """The SAP ECC / S/4HANA connector over RFC (pyrfc), or its bundled simulator."""

    system: str = "sap"
    simulator: bool = Field(False, description="use the bundled simulated SAP system instead of pyrfc")
    ashost: str = Field("", description="application server host (or mshost for load balancing)")
    sysnr: str = Field("00", pattern=r"^[0-9]{2}$")
    client: str = Field("100", pattern=r"^[0-9]{3}$")
    user: str = "HUB_RFC"
    password: SecretStr = SecretStr("")
    lang: str = Field("ZH", pattern=r"^[A-Za-z0-9]{1,2}$")
    mshost: str = ""
    msserv: str = ""
    sysid: str = ""
    group: str = ""
    saprouter: str = ""
    timeout_s: int = Field(60, ge=1, le=3600)
    retries: int = Field(2, ge=0, le=10)
    page_size: int = Field(500, ge=1, le=5000, description="records per page (one outbox transaction)")
    read_rows: int = Field(5000, ge=10, le=100_000, description="ROWCOUNT of one RFC_READ_TABLE call")
    overlap_days: int = Field(0, ge=0, le=31, description="re-read this many days before the checkpoint")
    company_code: str = Field("1000", pattern=r"^[A-Z0-9]{1,4}$")
    sales_org: str = Field("1000", pattern=r"^[A-Z0-9]{1,4}$")
    distr_chan: str = Field("10", pattern=r"^[A-Z0-9]{2}$")
    division: str = Field("00", pattern=r"^[A-Z0-9]{2}$")
    order_type: str = Field("TA", pattern=r"^[A-Z0-9]{1,4}$", description="AUART of the orders created")
    price_condition: str = Field("ZPR1", pattern=r"^[A-Z0-9]{4}$", description="condition type of the "
                                 "contract's tax-inclusive unit price (PR00 if your pricing treats it as net)")
    plants: list[str] = Field(default_factory=list, description="stock of these plants only (empty: all)")

    @field_validator("plants")
    @classmethod
    def _plant_codes(cls, value: list[str]) -> list[str]:
        if any(not (p.isascii() and p.isalnum()) or len(p) > 4 for p in value):
            raise ValueError("plant codes are 1 to 4 letters or digits")
        return [p.upper() for p in value]


class MesSettings(BaseModel):
    """The MES connector: work orders polled read-only from the MES database."""

    system: str = "mes"
    url: SecretStr = Field(SecretStr("sqlite:///./var/mes.db"), description="SQLAlchemy URL of the MES")
    password: SecretStr = Field(SecretStr(""), description="set on the URL when not empty")
    db_schema: str | None = Field(None, pattern=_SQL_IDENTIFIER)
    table: str = Field("mes_work_order", pattern=_SQL_IDENTIFIER)
    columns: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_MES_COLUMNS))
    page_size: int = Field(500, ge=1, le=10_000)
    timeout_s: int = Field(15, ge=1, le=600, description="connect and statement timeout")
    overlap_s: int = Field(0, ge=0, description="re-read this many seconds before the checkpoint")

    @field_validator("columns")
    @classmethod
    def _column_map(cls, value: dict[str, str]) -> dict[str, str]:
        bad = sorted(k for k, v in value.items() if not re.fullmatch(_SQL_IDENTIFIER, v))
        if bad:
            raise ValueError(f"not a plain column name (letters, digits, _) for: {', '.join(bad)}")
        missing = [k for k in MES_REQUIRED_COLUMNS if k not in value]
        if missing:
            raise ValueError(f"the column map needs {', '.join(missing)}")
        return value


class PlmSettings(BaseModel):
    """The PLM connector (Windchill / Teamcenter style REST API with OAuth2 client credentials)."""

    system: str = "plm"
    base_url: str = "http://127.0.0.1:8791"
    token_url: str = Field("", description="OAuth2 token endpoint; empty: <base_url>/oauth/token")
    client_id: str = "crm-hub"
    client_secret: SecretStr = SecretStr("")
    scope: str = ""
    timeout_s: float = Field(15.0, gt=0)
    page_size: int = Field(100, ge=1, le=1000)
    retries: int = Field(3, ge=0, le=10)
    max_retry_after_s: float = Field(30.0, ge=0, description="longest Retry-After the client waits for")
    token_refresh_margin_s: float = Field(60.0, ge=0, description="renew the token this long before expiry")


class DealerFilesSettings(BaseModel):
    """The dealer inventory report connector (进销存 spreadsheets dropped into a folder)."""

    system: str = "dms"
    inbox: Path = Path("var/dealer_files/inbox")
    quarantine: Path = Path("var/dealer_files/quarantine")
    processed: Path = Path("var/dealer_files/processed")
    contracts_path: Path | None = Field(None, description="CSV/YAML: dealer code → contracted annual volume")
    sell_in_path: Path | None = Field(None, description="CSV/YAML: ERP sell-in per dealer, product and period")
    purchase_gap_ratio: float = Field(0.2, ge=0, description="flag purchases off the sell-in by more than this")
    purchase_gap_min: float = Field(1.0, ge=0, description="… and by more than this quantity")
    settle_s: float = Field(5.0, ge=0, description="leave files younger than this for the next run")
    max_file_bytes: int = Field(20_000_000, ge=1)
    max_rows: int = Field(50_000, ge=1)


class IotSettings(BaseModel):
    """The IoT connector: device telemetry over MQTT, a device registry, alert rules, aggregates."""

    system: str = "iot"
    host: str = "127.0.0.1"
    port: int = Field(1883, ge=1, le=65535)
    username: str = ""
    password: SecretStr = SecretStr("")
    tls: bool = False
    # *_path, not *_file (here and below): HUB_…_FILE variables name secret files (SecretFilesSource)
    tls_ca_path: Path | None = Field(None, description="PEM CA bundle that signs the broker's certificate; "
                                     "empty: the system's CAs")
    tls_cert_path: Path | None = Field(None, description="PEM client certificate, for a broker that requires one")
    tls_key_path: Path | None = Field(None, description="PEM private key of the client certificate")
    mqtt_version: int = Field(5, ge=4, le=5, description="5 (MQTT 5) or 4 (MQTT 3.1.1)")
    client_id: str = Field("crm-hub-iot", min_length=1, max_length=64, description="fixed: names the session")
    topic_prefix: str = Field("factory", min_length=1, description="<prefix>/<plant>/<line>/<device>/…")
    keepalive_s: int = Field(30, ge=5, le=3600)
    session_expiry_s: int = Field(7 * 86400, ge=0, description="the broker keeps our session this long")
    reconnect_min_s: int = Field(1, ge=1)
    reconnect_max_s: int = Field(30, ge=1)
    devices: dict[str, dict[str, Any]] = Field(default_factory=dict, description="device id → plant, line, …")
    devices_path: Path | None = Field(None, description="YAML device registry (merged under `devices`)")
    rules_path: Path | None = Field(None, description="YAML alert rules; empty: connectors/iot/rules.yaml")
    window_s: int = Field(60, ge=1, le=86400, description="telemetry aggregation interval")
    grace_s: float = Field(10.0, ge=0, description="late readings within this are still aggregated")
    max_clock_skew_s: float = Field(300.0, ge=0, description="readings further in the future are refused")
    retention_s: int = Field(3600, ge=0, description="keep reading marks this long after their window closed")
    queue_size: int = Field(1000, ge=1, le=65535, description="deliveries held unacknowledged in memory")
    batch_size: int = Field(100, ge=1, le=10000)
    batch_wait_ms: int = Field(5, ge=1, le=10000, description="a batch waits this long for more readings")

    _existing_files = field_validator("tls_ca_path", "tls_cert_path", "tls_key_path")(_existing_file)

    @model_validator(mode="after")
    def _tls_consistent(self) -> IotSettings:
        _cert_with_key(self.tls_cert_path, self.tls_key_path, "HUB_IOT__TLS")
        if not self.tls and any(v is not None for v in (self.tls_ca_path, self.tls_cert_path)):
            raise ValueError("HUB_IOT__TLS_… settings need HUB_IOT__TLS=true (TLS port, usually 8883)")
        return self


class WecomSettings(BaseModel):
    """WeChat Work (企业微信): API app secrets, the callback's token and AES key, group robots."""

    system: str = "wecom"
    corp_id: str = Field("", description="the enterprise's CorpID (ww…); also the callback's receive id")
    checkin_secret: SecretStr = Field(SecretStr(""), description="secret of the 打卡 (check-in) app")
    approval_secret: SecretStr = Field(SecretStr(""), description="secret of the 审批 (approval) app")
    contact_secret: SecretStr = Field(SecretStr(""), description="secret of 客户联系 (external contacts)")
    directory_secret: SecretStr = Field(SecretStr(""), description="通讯录 secret for user/list_id; "
                                        "empty: the check-in app's")
    callback_token: SecretStr = Field(SecretStr(""), description="Token of the callback URL (接收消息)")
    encoding_aes_key: SecretStr = Field(SecretStr(""), description="EncodingAESKey of the callback, 43 chars")
    api_base_url: str = "https://qyapi.weixin.qq.com"
    robot_keys: dict[str, SecretStr] = Field(default_factory=dict, description="robot name → webhook key")
    timeout_s: float = Field(10.0, gt=0, le=120)
    retries: int = Field(3, ge=0, le=10, description="extra attempts when rate limited or unreachable")
    checkin_users: list[str] = Field(default_factory=list, description="userids; empty: user/list_id")
    checkin_departments: list[int] = Field(default_factory=list, description="only users of these "
                                           "departments when listing (empty: all)")
    checkin_start: str = Field("", pattern=r"^([0-9]{4}-[0-9]{2}-[0-9]{2})?$",
                               description="first day of a first sync; empty: checkin_initial_days ago")
    checkin_initial_days: int = Field(30, ge=1, le=3650)
    checkin_window_days: int = Field(30, ge=1, le=30, description="days per getcheckindata call (≤ 30)")
    checkin_settle_s: int = Field(600, ge=0, description="never pull the newest seconds (late uploads)")
    checkin_overlap_s: int = Field(0, ge=0, description="re-read this many seconds before the checkpoint")
    callback_max_skew_s: int = Field(300, ge=1, le=3600, description="callback timestamps further off "
                                     "are refused")
    callback_retention_days: int = Field(7, ge=1, le=365, description="keep processed callbacks this long")

    @field_validator("encoding_aes_key")
    @classmethod
    def _aes_key_shape(cls, value: SecretStr) -> SecretStr:
        key = value.get_secret_value()
        if key and not re.fullmatch(r"[A-Za-z0-9+/]{43}", key):
            raise ValueError("must be the 43 characters WeCom shows (letters and digits)")
        return value

    @field_validator("api_base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/")


# The repository's own tiers file; deployments point HUB_WORKER__TIERS_PATH at the DAG folder's copy.
DEFAULT_TIERS_PATH = Path(__file__).resolve().parents[2] / "dags" / "tiers.yaml"

ROLES = ("viewer", "steward", "admin")
Role = Literal["viewer", "steward", "admin"]
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class WorkerSettings(BaseModel):
    """`hub worker`, the watchdog, the daily report and alert forwarding."""

    name: str = Field("", description="worker name in heartbeats; empty: <host>:<pid>")
    components: list[str] = Field(default_factory=lambda: ["relay", "erp_commands", "pollers"],
                                  description="components this worker runs (see hub.app.worker.COMPONENTS)")
    heartbeat_s: float = Field(10.0, gt=0, le=300, description="how often the worker writes its heartbeat")
    shutdown_timeout_s: float = Field(60.0, gt=0, description="how long SIGTERM waits for batches in hand")
    metrics_port: int = Field(9464, ge=0, le=65535, description="/metrics port of the worker; 0: no server")
    metrics_addr: str = "0.0.0.0"
    broker_metrics: bool = Field(True, description="expose queue depths (asks RabbitMQ at each scrape)")
    tiers_path: Path = Field(DEFAULT_TIERS_PATH, description="the tiers file (dags/tiers.yaml)")
    reports_dir: Path = Path("var/reports")
    alert_robot: str = Field("alerts", description="WeCom robot (HUB_WECOM__ROBOT_KEYS) the web app's "
                             "/alertmanager/webhook sends to")
    alert_webhook_token: SecretStr = Field(SecretStr(""), description="bearer token Alertmanager sends to "
                                           "/alertmanager/webhook; empty: no check")
    alert_sender: str = Field("", description="'wecom:<robot>' (HUB_WECOM__ROBOT_KEYS) or 'module:function' "
                              "taking a markdown text; empty: log only")

    @field_validator("components")
    @classmethod
    def _no_duplicates(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("a component is listed twice")
        return value

    @field_validator("alert_sender")
    @classmethod
    def _import_path(cls, value: str) -> str:
        if value and ":" not in value:
            raise ValueError("must be 'module:function'")
        return value


class WebSettings(BaseModel):
    """`hub web`: the steward pages' sessions, sign-in and review SLA."""

    secret_key: SecretStr = Field(SecretStr(""), description="signs session cookies; empty: a random key per "
                                  "process (sessions end on restart and do not work across replicas)")
    cookie_secure: Literal["auto", "always", "never"] = Field(
        "auto", description="Secure flag of the session cookie; auto: when the request came over https")
    session_max_age_s: int = Field(8 * 3600, ge=300, le=7 * 86400, description="a sign-in lasts this long")
    trusted_proxies: list[str] = Field(default_factory=list, description="addresses or networks whose "
                                       "user/role headers are believed (empty: header sign-in is off)")
    proxy_user_header: str = "X-Remote-User"
    proxy_role_header: str = "X-Remote-Role"
    proxy_default_role: Role = Field("viewer", description="role of a proxy user without a valid role header")
    sla_hours: float = Field(24.0, gt=0, description="a pending review older than this is overdue")
    sla_hours_by_entity: dict[str, float] = Field(default_factory=dict, description="entity → SLA override")
    base_url: str = Field("", description="public URL of the web app, for links in notifications")
    default_language: Literal["zh", "en"] = "zh"
    login_attempts: int = Field(5, ge=1, le=100, description="failed sign-ins before a 15-minute pause")

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for item in value:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError("each entry must be an IP address or network (10.0.0.0/8)") from None
        return value

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/")

    def networks(self) -> list[IpNetwork]:
        """The trusted proxy networks."""
        return [ipaddress.ip_network(item, strict=False) for item in self.trusted_proxies]

    def signing_key(self) -> str:
        """The session signing key (a random one, with a warning, when none is configured)."""
        key = self.secret_key.get_secret_value()
        if not key:
            log.warning("steward web: HUB_WEB__SECRET_KEY is not set; using a random key for this process")
            key = secrets.token_urlsafe(32)
            self.secret_key = SecretStr(key)
        return key

    def sla_for(self, entity: str) -> float:
        """The review SLA of an entity in hours."""
        return self.sla_hours_by_entity.get(entity, self.sla_hours)


class SecretFilesSource(PydanticBaseSettingsSource):
    """`HUB_…_FILE=/run/secrets/x` reads the setting `HUB_…` from that file (Docker / Kubernetes secrets)."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # unused: __call__ builds the whole nested dict at once

    def __call__(self) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for name, path in os.environ.items():
            if not (name.startswith("HUB_") and name.endswith("_FILE")):
                continue
            keys = name.removeprefix("HUB_").removesuffix("_FILE").lower().split("__")
            try:
                value = Path(path).read_text(encoding="utf-8").strip()
            except OSError:
                raise ConfigError(f"{name}: cannot read the secret file it names") from None
            node = found
            for key in keys[:-1]:
                node = node.setdefault(key, {})
            node[keys[-1]] = value
        return found


class HubSettings(BaseSettings):
    """The hub's settings; build with `load_settings()`."""

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource,
                                   dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource,
                                   ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Explicit arguments, then the environment, then secret files named by `HUB_…_FILE`."""
        if isinstance(env_settings, EnvSettingsSource):  # HUB_…_FILE names a file, not a value
            env_settings.env_vars = {k: v for k, v in env_settings.env_vars.items() if not k.endswith("_file")}
        return init_settings, env_settings, SecretFilesSource(settings_cls)

    model_config = SettingsConfigDict(
        env_prefix="HUB_",
        env_nested_delimiter="__",
        extra="ignore",
        hide_input_in_errors=True,
    )

    database_url: SecretStr = SecretStr("sqlite:///./var/hub.db")
    log_level: str = "INFO"
    bus: BusSettings = Field(default_factory=BusSettings)
    relay: RelaySettings = Field(default_factory=RelaySettings)
    soap_erp: SoapErpSettings = Field(default_factory=SoapErpSettings)
    iot: IotSettings = Field(default_factory=IotSettings)
    plm: PlmSettings = Field(default_factory=PlmSettings)
    dealer_files: DealerFilesSettings = Field(default_factory=DealerFilesSettings)
    sap_rfc: SapRfcSettings = Field(default_factory=SapRfcSettings)
    mes: MesSettings = Field(default_factory=MesSettings)
    wecom: WecomSettings = Field(default_factory=WecomSettings)
    worker: WorkerSettings = Field(default_factory=WorkerSettings)
    web: WebSettings = Field(default_factory=WebSettings)

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: SecretStr) -> SecretStr:
        scheme = value.get_secret_value().split(":", 1)[0]
        if not scheme.startswith(("sqlite", "postgresql")):
            raise ValueError("must be a sqlite:/// or postgresql+psycopg:// URL")
        return value

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        if value.upper() not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR")
        return value.upper()

    def sqlite_path(self) -> Path | None:
        """The SQLite file, when the database is SQLite (so the demo can create its folder)."""
        url = self.database_url.get_secret_value()
        if url.startswith("sqlite:///") and ":memory:" not in url:
            return Path(url.removeprefix("sqlite:///"))
        return None


def _problems(exc: ValidationError) -> list[str]:
    """Each pydantic problem as 'HUB_FIELD__SUB: message', without the offending value."""
    out = []
    for err in exc.errors(include_input=False, include_url=False):
        name = "HUB_" + "__".join(str(part).upper() for part in err["loc"])
        out.append(f"{name}: {err['msg']}")
    return out


def load_settings(**overrides: Any) -> HubSettings:
    """Read and validate the settings; every problem is reported in one ConfigError."""
    try:
        return HubSettings(**overrides)
    except ValidationError as exc:
        raise ConfigError("invalid hub settings", _problems(exc)) from None


@functools.lru_cache(maxsize=1)
def get_settings() -> HubSettings:
    """The process-wide settings (read once)."""
    return load_settings()
