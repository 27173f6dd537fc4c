"""The SOAP ERP client: the only module that imports zeep, requests and lxml, and owns the error table.

Hardened: zeep never processes a DTD or entity (an XML bomb or an external entity is refused
before anything is expanded or fetched), never loads anything but the WSDL over HTTP(S), and
never logs message bodies (they carry the password and may carry unsafe XML). Every vendor
error is translated here into the hub's error tree; only transport failures are retried.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

import requests
import tenacity
import zeep
import zeep.exceptions as zex
from lxml import etree
from pydantic import SecretStr
from zeep.helpers import serialize_object
from zeep.transports import Transport

from hub.core.errors import (
    ConfigError,
    HubError,
    SourceAuthError,
    SourceProtocolError,
    SourceRejected,
    SourceUnavailable,
    is_retriable,
)

log = logging.getLogger(__name__)

# Each Get* operation names its after-key parameter after the ERP's key field.
AFTER_PARAM = {
    "GetCustomers": "afterNumber",
    "GetSalesOrders": "afterBillNo",
    "GetInventory": "afterKey",
    "GetReceivables": "afterBillNo",
}
LIST_FIELDS = {"FEntries": "FEntry"}  # wrapper element → repeated child, flattened to a list of dicts
MAX_FAULT_CHARS = 200
_UNSAFE_MARKERS = (b"<!DOCTYPE", b"<!ENTITY", b"<!doctype", b"<!entity")
_CARRIES_BODY = (zex.TransportError, zex.XMLSyntaxError)
_XML_ERRORS = (zex.XMLSyntaxError, zex.XMLParseError, zex.DTDForbidden, zex.EntitiesForbidden,
               zex.ExternalReferenceForbidden, zex.WsdlSyntaxError, zex.LookupError, etree.LxmlError)

# A logger no handler ever sees: zeep's transport logs whole requests (with the password) and
# responses (maybe an XML bomb) at DEBUG, which must never reach the hub's logs.
_SILENT = logging.Logger("connectors.soap_erp.zeep_transport", level=logging.CRITICAL + 1)
_SILENT.propagate = False


class _HardenedTransport(Transport):
    """zeep's Transport without body logging, without file:// and without loading local paths."""

    def __init__(self, timeout_s: float) -> None:
        super().__init__(timeout=timeout_s, operation_timeout=timeout_s,  # type: ignore[no-untyped-call]
                         session=requests.Session())
        self.logger = _SILENT
        self.session.adapters.pop("file://", None)  # zeep mounts a file adapter; a WSDL import could use it

    def load(self, url: str) -> bytes:
        """Load a WSDL/XSD document, over HTTP(S) only (zeep would open a bare path as a local file)."""
        if urlsplit(url).scheme not in ("http", "https"):
            raise zex.ExternalReferenceForbidden(url)  # type: ignore[no-untyped-call]
        return super().load(url)  # type: ignore[no-untyped-call,no-any-return]


class ErpSoapClient:
    """A hardened zeep client of the ERP web service; connects on first use."""

    def __init__(self, wsdl_url: str, username: str, password: str | SecretStr, timeout_s: float = 15.0,
                 retries: int = 3, *, backoff_s: float = 0.2, max_backoff_s: float = 2.0) -> None:
        parts = urlsplit(wsdl_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError("HUB_SOAP_ERP__WSDL_URL must be an http:// or https:// URL")
        self.wsdl_url, self.username = wsdl_url, username
        self.address = f"{parts.hostname}:{parts.port or (443 if parts.scheme == 'https' else 80)}"
        self._password = password if isinstance(password, SecretStr) else SecretStr(password)  # never printed
        self.timeout_s, self.retries = timeout_s, retries
        self.backoff_s, self.max_backoff_s = backoff_s, max_backoff_s
        self._zeep: zeep.Client | None = None
        self._transport: _HardenedTransport | None = None

    def __repr__(self) -> str:
        return f"ErpSoapClient({self.wsdl_url!r}, user={self.username!r})"  # never the password

    # ------------------------------------------------------------------------------ operations

    def ping(self) -> str:
        """The ERP's version string; proves the address, the WSDL and the credentials."""
        return str(self._call("Ping"))

    def page(self, operation: str, modified_since: str, after_key: str | None,
             page_size: int) -> tuple[list[dict[str, Any]], bool]:
        """One page of rows changed after (modified_since, after_key), and whether more follow."""
        if operation not in AFTER_PARAM:
            raise ConfigError(f"{operation!r} is not a paged ERP operation; known: {', '.join(AFTER_PARAM)}")
        args: dict[str, Any] = {"modifiedSince": modified_since, "pageSize": page_size}
        if after_key:
            args[AFTER_PARAM[operation]] = after_key
        answer = self._call(operation, **args)
        result = serialize_object(answer, target_cls=dict)  # type: ignore[no-untyped-call]
        return [_plain(row) for row in _items(result.get("items"))], bool(result.get("hasMore"))

    def find_order_by_contract(self, contract_no: str) -> str | None:
        """The FBillNo of the sales order with this contract number, or None."""
        return self._call("FindSalesOrderByContract", contractNo=contract_no) or None

    def create_order(self, order: dict[str, Any]) -> str:
        """Create a sales order, FEntries given as a list of dicts; returns its FBillNo.

        Never retried here: a timeout may hide a created order, so the caller must look it up
        again (create_order_for_contract does) before trying once more.
        """
        return str(self._call("CreateSalesOrder", _attempts=1, order=_wrapped(order)))

    def close(self) -> None:
        """Close the HTTP session; the next call connects again."""
        if self._transport is not None:
            self._transport.session.close()
        self._zeep, self._transport = None, None

    # --------------------------------------------------------------------------------- plumbing

    def _call(self, operation: str, _attempts: int | None = None, **args: Any) -> Any:
        """Call one operation with credentials, translating errors and retrying transport failures."""
        attempts = (self.retries + 1) if _attempts is None else _attempts
        return self._retrying(attempts)(self._call_once, operation, args)

    def _retrying(self, attempts: int) -> tenacity.Retrying:
        return tenacity.Retrying(
            retry=tenacity.retry_if_exception(_retry_now),
            stop=tenacity.stop_after_attempt(attempts),
            wait=tenacity.wait_exponential(multiplier=self.backoff_s, max=self.max_backoff_s),
            before_sleep=_log_retry,
            reraise=True,
        )

    def _call_once(self, operation: str, args: dict[str, Any]) -> Any:
        try:
            service = self._client().service
            secret = self._password.get_secret_value()
            header = {"Credentials": {"Username": self.username, "Password": secret}}
            return getattr(service, operation)(**args, _soapheaders=header)
        except HubError:
            raise
        except _CARRIES_BODY as exc:
            # zeep puts the whole response into these messages: chained, a logged traceback would
            # print it (an XML bomb, maybe secrets), so the cause is dropped here.
            raise self._translate(operation, exc) from None
        except Exception as exc:
            raise self._translate(operation, exc) from exc

    def _client(self) -> zeep.Client:
        """The zeep client, built (and the WSDL fetched) on first use."""
        if self._zeep is None:
            transport = _HardenedTransport(self.timeout_s)
            settings = zeep.Settings(strict=True, forbid_dtd=True, forbid_entities=True, forbid_external=True,
                                     xml_huge_tree=False, raw_response=False)
            try:
                self._zeep = zeep.Client(  # type: ignore[no-untyped-call]
                    self.wsdl_url, transport=transport, settings=settings)
            except Exception:
                transport.session.close()
                raise
            self._transport = transport
        return self._zeep

    # ------------------------------------------------------------------------------ error table

    def _translate(self, operation: str, exc: BaseException) -> HubError:
        """The hub error for a vendor error; messages never carry bodies, values or the password."""
        if isinstance(exc, zex.Fault):
            return self._from_fault(operation, exc)
        if isinstance(exc, requests.exceptions.Timeout):
            return SourceUnavailable(
                f"ERP at {self.address} did not answer {operation} within {self.timeout_s:g} s")
        if isinstance(exc, requests.exceptions.ConnectionError):
            return SourceUnavailable(f"ERP at {self.address} is unreachable ({_connection_reason(exc)}) "
                                     f"during {operation}; check HUB_SOAP_ERP__WSDL_URL and the network")
        if isinstance(exc, (zex.TransportError, requests.exceptions.HTTPError)):
            return self._from_http(operation, exc)
        if isinstance(exc, _XML_ERRORS):
            return SourceProtocolError(
                f"malformed or unsafe XML response from {operation} ({type(exc).__name__})")
        if isinstance(exc, zex.ValidationError):
            return SourceRejected(f"{operation} request does not match the WSDL: {_short(exc.message)}",
                                  field=_path(exc))
        return SourceProtocolError(f"unexpected {type(exc).__name__} from {operation} at {self.address}")

    def _from_fault(self, operation: str, fault: zex.Fault) -> HubError:
        side = (fault.code or "").rsplit(":", 1)[-1].split(".", 1)[0]  # "soap:Client.Auth" → "Client"
        side = "Client" if side == "Sender" else side  # the SOAP 1.2 name, from gateways that mix them
        code, field = _detail(fault.detail)
        text = _short(fault.message or "")
        if side == "Client" and code == "AUTH_FAILED":
            return SourceAuthError(f"ERP refused the credentials of user {self.username!r} ({operation}); "
                                   "check HUB_SOAP_ERP__USERNAME and HUB_SOAP_ERP__PASSWORD")
        if side == "Client":
            return SourceRejected(f"ERP rejected {operation}: {text}", field=field)
        if not fault.code:  # zeep's "Unknown fault": an HTTP error page in XML, not a SOAP fault
            return SourceUnavailable(f"ERP at {self.address} answered {operation} with an HTTP error")
        return SourceUnavailable(
            f"ERP at {self.address} failed {operation} (server fault {code or '?'}): {text}")

    def _from_http(self, operation: str, exc: zex.TransportError | requests.exceptions.HTTPError) -> HubError:
        status, content = _status_and_content(exc)
        if status >= 500:
            return SourceUnavailable(f"ERP at {self.address} answered {operation} with HTTP {status}")
        if status in (401, 403):
            return SourceAuthError(f"ERP refused the credentials of user {self.username!r} (HTTP {status})")
        if 400 <= status < 500:
            return SourceRejected(f"ERP at {self.address} answered {operation} with HTTP {status}; "
                                  "check HUB_SOAP_ERP__WSDL_URL")
        _log_snippet(operation, content)
        return SourceProtocolError(f"malformed or unsafe XML response from {operation}")


# ---------------------------------------------------------------------------------- module helpers


def _retry_now(exc: BaseException) -> bool:
    """Retry transport failures only: a SOAP fault (even a server one) is an answer, not a glitch."""
    cause = exc.__cause__
    answered = isinstance(cause, zex.Fault) and bool(cause.code)  # no faultcode: an HTTP 5xx page
    return is_retriable(exc) and not answered


def _log_retry(state: tenacity.RetryCallState) -> None:
    exc = state.outcome.exception() if state.outcome else None
    log.warning("ERP call failed (attempt %d), retrying: %s", state.attempt_number, exc)


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_FAULT_CHARS else text[: MAX_FAULT_CHARS - 1] + "…"


def _detail(detail: Any) -> tuple[str | None, str | None]:
    """(code, field) from a fault's <detail><ErrorInfo>, whatever its namespace."""
    if not isinstance(detail, etree._Element):
        return None, None
    code = detail.xpath("string(.//*[local-name()='code'])")
    field = detail.xpath("string(.//*[local-name()='field'])")
    return (str(code) or None), (str(field) or None)


def _status_and_content(exc: zex.TransportError | requests.exceptions.HTTPError) -> tuple[int, bytes]:
    if isinstance(exc, zex.TransportError):
        return exc.status_code or 0, exc.content or b""
    response = exc.response
    return (response.status_code, b"") if response is not None else (0, b"")


def _log_snippet(operation: str, content: bytes) -> None:
    """At most 200 characters of a broken response, at DEBUG, and never when it declares a DTD."""
    if content and log.isEnabledFor(logging.DEBUG) and not any(m in content for m in _UNSAFE_MARKERS):
        log.debug("malformed response from %s starts with: %r", operation, content[:MAX_FAULT_CHARS])


def _connection_reason(exc: requests.exceptions.ConnectionError) -> str:
    text = str(exc).lower()
    for needle, reason in (("refused", "connection refused"), ("name or service", "unknown host"),
                           ("nodename", "unknown host"), ("reset", "connection reset"),
                           ("timed out", "timed out")):
        if needle in text:
            return reason
    return "connection failed"


def _path(exc: zex.ValidationError) -> str | None:
    path = getattr(exc, "path", None)
    return ".".join(str(p) for p in path) if path else None


def _items(items: Any) -> list[Any]:
    """The rows of a page: <items> holds one repeated element (Customer, SalesOrder…)."""
    if isinstance(items, dict):
        return next(iter(items.values()), None) or []
    return list(items or [])


def _plain(value: Any) -> Any:
    """A serialized zeep value with wrapper lists flattened: {"FEntries": {"FEntry": [..]}} → [..]."""
    if isinstance(value, dict):
        return {k: _unwrap(k, v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _unwrap(key: str, value: Any) -> Any:
    if key in LIST_FIELDS and isinstance(value, dict):
        return [_plain(v) for v in value.get(LIST_FIELDS[key]) or []]
    return _plain(value)


def _wrapped(record: dict[str, Any]) -> dict[str, Any]:
    """The reverse of _plain for a request: {"FEntries": [..]} → {"FEntries": {"FEntry": [..]}}."""
    return {key: ({LIST_FIELDS[key]: value} if key in LIST_FIELDS and isinstance(value, list) else value)
            for key, value in record.items()}

