"""A real SOAP 1.1 server simulating a Kingdee / Yonyou style ERP web service, on loopback.

Plain WSGI (wsgiref, one thread per request) serving `erp.wsdl` at `GET <url>?wsdl` and the
operations at `POST <url>`. Requests are parsed with defusedxml (no DTD, no entities); responses
are built with lxml. Tests inject faults with `fault_next(kind, times)`: the next `times` SOAP
calls answer with that fault instead of the real answer.

    with ErpSoapServer() as erp:            # port 0: a free port
        client = ErpSoapClient(erp.wsdl_url, DEMO_USERNAME, DEMO_PASSWORD, ...)

    python -m connectors.testing.erp_soap_server --port 8790     # foreground, for humans
"""

from __future__ import annotations

import argparse
import datetime as dt
import hmac
import logging
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server
from xml.etree.ElementTree import Element as StdElement
from xml.etree.ElementTree import ParseError

import defusedxml.ElementTree as safe_et
from defusedxml import DefusedXmlException
from lxml import etree

from connectors.testing.erp_data import (
    CUSTOMER_FIELDS,
    ENTRY_FIELDS,
    INVENTORY_FIELDS,
    ORDER_FIELDS,
    RECEIVABLE_FIELDS,
    ErpStore,
    Row,
    ValidationFailed,
    demo_store,
)
from connectors.testing.loopback import LoopbackServer

log = logging.getLogger(__name__)

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
TNS = "urn:crm-hub:erp:v1"
VERSION = "ERP WebService simulator 1.0 (Kingdee K/3 Cloud style, crm-hub)"
DEMO_USERNAME = "hub"
DEMO_PASSWORD = "hub-demo-secret"
WSDL_PATH = Path(__file__).with_name("erp.wsdl")
WSDL_ADDRESS = "http://127.0.0.1:8790/erp"  # the address written in erp.wsdl, replaced when served
MAX_REQUEST_BYTES = 1_000_000
MAX_PAGE_SIZE = 5000
FAULT_KINDS = frozenset({
    "soap_fault", "malformed", "slow", "xml_bomb", "external_entity", "http_500", "auth",
})

# operation → (store table, name of its after-key parameter, item element, fields in WSDL order)
PAGED: dict[str, tuple[str, str, str, tuple[str, ...]]] = {
    "GetCustomers": ("customers", "afterNumber", "Customer", CUSTOMER_FIELDS),
    "GetSalesOrders": ("orders", "afterBillNo", "SalesOrder", ORDER_FIELDS),
    "GetInventory": ("inventory", "afterKey", "Inventory", INVENTORY_FIELDS),
    "GetReceivables": ("receivables", "afterBillNo", "Receivable", RECEIVABLE_FIELDS),
}

Response = tuple[str, str, bytes]  # HTTP status line, content type, body
StartResponse = Callable[..., Any]
_XML = "text/xml; charset=utf-8"


class SoapFault(Exception):
    """A fault to answer with: `side` is "Client" or "Server", `code` goes into the detail."""

    def __init__(self, side: str, message: str, code: str, field: str | None = None) -> None:
        super().__init__(message)
        self.side, self.message, self.code, self.field = side, message, code, field


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True     # a slow answer in flight must not keep the process alive
    block_on_close = False    # stop() returns at once, even while a "slow" fault is sleeping
    allow_reuse_address = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        """Request lines at DEBUG instead of on stderr."""
        log.debug("erp simulator: " + format, *args)


# ------------------------------------------------------------------------------------------ XML out


def _q(name: str) -> str:
    return f"{{{TNS}}}{name}"


def _sub(parent: etree._Element, name: str, text: str | None = None) -> etree._Element:
    child = etree.SubElement(parent, _q(name))
    child.text = text
    return child


def _envelope(payload: etree._Element) -> bytes:
    env = etree.Element(f"{{{SOAP_ENV}}}Envelope", nsmap={"soap": SOAP_ENV, "erp": TNS})
    etree.SubElement(env, f"{{{SOAP_ENV}}}Body").append(payload)
    return etree.tostring(env, xml_declaration=True, encoding="utf-8")  # type: ignore[no-any-return]


def _fault_response(fault: SoapFault) -> Response:
    node = etree.Element(f"{{{SOAP_ENV}}}Fault")
    etree.SubElement(node, "faultcode").text = f"soap:{fault.side}"
    etree.SubElement(node, "faultstring").text = fault.message
    info = etree.SubElement(etree.SubElement(node, "detail"), _q("ErrorInfo"))
    _sub(info, "code", fault.code)
    if fault.field:
        _sub(info, "field", fault.field)
    return "500 Internal Server Error", _XML, _envelope(node)  # SOAP 1.1 faults travel with HTTP 500


def _record(item: str, row: Row, fields: tuple[str, ...]) -> etree._Element:
    node = etree.Element(_q(item))
    for name in fields:
        value = row.get(name)
        if name == "FEntries":
            entries = _sub(node, "FEntries")
            for entry in value or []:
                entries.append(_record("FEntry", entry, ENTRY_FIELDS))
        elif value is not None:
            _sub(node, name, str(value))
    return node


# ------------------------------------------------------------------------------------------- XML in


def _local(tag: str) -> tuple[str, str]:
    namespace, _, name = tag[1:].partition("}") if tag.startswith("{") else ("", "", tag)
    return namespace, name


def _children(node: StdElement | None) -> dict[str, str]:
    return {_local(child.tag)[1]: (child.text or "") for child in (node if node is not None else [])}


def _parse_request(body: bytes) -> tuple[str, StdElement, dict[str, str]]:
    """(operation, its element, credentials) of a SOAP request; unsafe or broken XML is a Client fault."""
    try:
        root = safe_et.fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except (DefusedXmlException, ParseError) as exc:
        raise SoapFault("Client", "request is not well-formed or uses DTDs/entities", "BAD_REQUEST") from exc
    header = root.find(f"{{{SOAP_ENV}}}Header")
    credentials = header.find(_q("Credentials")) if header is not None else None
    body_node = root.find(f"{{{SOAP_ENV}}}Body")
    operation = body_node[0] if body_node is not None and len(body_node) else None
    if operation is None:
        raise SoapFault("Client", "the SOAP Body holds no operation", "BAD_REQUEST")
    namespace, name = _local(operation.tag)
    if namespace != TNS:
        raise SoapFault("Client", f"unknown operation namespace {namespace!r}", "BAD_REQUEST")
    return name, operation, _children(credentials)


def _parse_order(operation: StdElement) -> Row:
    order_node = operation.find(_q("order"))
    if order_node is None:
        raise SoapFault("Client", "order: missing", "VALIDATION", "order")
    order: Row = _children(order_node)
    entries_node = order_node.find(_q("FEntries"))
    order["FEntries"] = [_children(e) for e in (entries_node if entries_node is not None else [])]
    return order


def _since(text: str) -> dt.datetime:
    """modifiedSince as naive China local time (an offset, if sent, is converted to +08:00)."""
    try:
        moment = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise SoapFault("Client", "modifiedSince is not an xsd:dateTime", "VALIDATION",
                        "modifiedSince") from None
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.timezone(dt.timedelta(hours=8))).replace(tzinfo=None)
    return moment


def _page_size(text: str) -> int:
    if not text.strip().isdigit() or not 1 <= int(text) <= MAX_PAGE_SIZE:
        raise SoapFault("Client", f"pageSize: must be 1..{MAX_PAGE_SIZE}", "VALIDATION", "pageSize")
    return int(text)


# ------------------------------------------------------------------------------------ unsafe answers


def _billion_laughs() -> bytes:
    levels = ['<!ENTITY lol0 "lol">'] + [
        f'<!ENTITY lol{n} "{"".join(f"&lol{n - 1};" for _ in range(10))}">' for n in range(1, 10)
    ]
    return (
        '<?xml version="1.0"?>\n<!DOCTYPE lolz [' + "".join(levels) + "]>\n"
        f'<soap:Envelope xmlns:soap="{SOAP_ENV}" xmlns:erp="{TNS}"><soap:Body><erp:PingResponse>'
        "<erp:version>&lol9;</erp:version></erp:PingResponse></soap:Body></soap:Envelope>"
    ).encode()


def _external_entity() -> bytes:
    return (
        '<?xml version="1.0"?>\n<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>\n'
        f'<soap:Envelope xmlns:soap="{SOAP_ENV}" xmlns:erp="{TNS}"><soap:Body><erp:GetCustomersResponse>'
        "<erp:items><erp:Customer><erp:FNumber>CUST-000101</erp:FNumber><erp:FName>&e;</erp:FName>"
        "</erp:Customer></erp:items><erp:hasMore>false</erp:hasMore></erp:GetCustomersResponse>"
        "</soap:Body></soap:Envelope>"
    ).encode()


def _truncated(operation: str) -> bytes:
    return (
        f'<?xml version="1.0" encoding="utf-8"?>\n<soap:Envelope xmlns:soap="{SOAP_ENV}" xmlns:erp="{TNS}">'
        f"<soap:Body><erp:{operation}Response><erp:items><erp:Customer><erp:FNumber>CUST-0001"
    ).encode()


# ------------------------------------------------------------------------------------------- server


class ErpSoapServer(LoopbackServer):
    thread_name = "erp-soap"

    """The simulated ERP web service on a background thread; `.start()`, `.url`, `.stop()`."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, data: ErpStore | None = None,
                 page_delay_s: float = 0.0, *, username: str = DEMO_USERNAME,
                 password: str = DEMO_PASSWORD) -> None:
        self.host, self.port = host, port
        self.store = data if data is not None else demo_store()
        self.page_delay_s = page_delay_s
        self.calls: list[str] = []  # every SOAP call received, by operation ("?" when unparseable)
        self._accounts = {username: password}
        self._faults: deque[tuple[str, float]] = deque()
        self._lock = threading.Lock()
        self._init_lifecycle()

    # ---------------------------------------------------------------------------------- lifecycle

    def _bind(self) -> _ThreadingWSGIServer:
        return make_server(self.host, self.port, self.app, server_class=_ThreadingWSGIServer,  # type: ignore[return-value]
                           handler_class=_QuietHandler)

    @property
    def url(self) -> str:
        """The SOAP endpoint."""
        return f"http://{self.host}:{self.port}/erp"

    @property
    def wsdl_url(self) -> str:
        """Where the WSDL is served, with this endpoint as its address."""
        return f"{self.url}?wsdl"

    # ---------------------------------------------------------------------------- fault injection

    def fault_next(self, kind: str, times: int = 1, delay_s: float = 5.0) -> None:
        """Answer the next `times` SOAP calls with fault `kind`; "slow" sleeps `delay_s` first."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; kinds: {', '.join(sorted(FAULT_KINDS))}")
        with self._lock:
            self._faults.extend([(kind, delay_s)] * times)

    def clear_faults(self) -> None:
        """Forget every pending fault."""
        with self._lock:
            self._faults.clear()

    def call_count(self, operation: str | None = None) -> int:
        """How many SOAP calls (of one operation, or all) were received."""
        with self._lock:
            return sum(1 for op in self.calls if operation is None or op == operation)

    def _take_fault(self) -> tuple[str, float] | None:
        with self._lock:
            return self._faults.popleft() if self._faults else None

    # ----------------------------------------------------------------------------------------- WSGI

    def app(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        """The WSGI application: GET ?wsdl, POST SOAP calls."""
        method, query = environ["REQUEST_METHOD"], environ.get("QUERY_STRING", "").lower()
        if method == "GET" and query == "wsdl":
            text = WSDL_PATH.read_text(encoding="utf-8").replace(WSDL_ADDRESS, self.url)
            status, ctype, body = "200 OK", _XML, text.encode()
        elif method == "POST":
            status, ctype, body = self._post(environ)
        else:
            status, ctype, body = "405 Method Not Allowed", "text/plain", b"GET ?wsdl or POST a SOAP call"
        start_response(status, [("Content-Type", ctype), ("Content-Length", str(len(body)))])
        return [body]

    def _post(self, environ: dict[str, Any]) -> Response:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        if length > MAX_REQUEST_BYTES:
            return _fault_response(SoapFault("Client", "request too large", "BAD_REQUEST"))
        body = environ["wsgi.input"].read(length)
        try:
            operation, node, credentials = _parse_request(body)
        except SoapFault as fault:
            self._record_call("?")
            return _fault_response(fault)
        self._record_call(operation)
        injected = self._take_fault()
        if injected is not None:
            answer = self._injected(injected, operation)
            if answer is not None:
                return answer
        return self._answer(operation, node, credentials)

    def _record_call(self, operation: str) -> None:
        with self._lock:
            self.calls.append(operation)

    def _injected(self, fault: tuple[str, float], operation: str) -> Response | None:
        """The answer for an injected fault; None for "slow", which answers normally after sleeping."""
        kind, delay_s = fault
        if kind == "slow":
            self._stopping.wait(delay_s)
            return None
        answers: dict[str, Callable[[], Response]] = {
            "soap_fault": lambda: _fault_response(SoapFault(
                "Server", "ERP internal error: database deadlock, transaction rolled back", "INTERNAL")),
            "auth": lambda: _fault_response(SoapFault("Client", "authentication failed", "AUTH_FAILED")),
            "malformed": lambda: ("200 OK", _XML, _truncated(operation)),
            "xml_bomb": lambda: ("200 OK", _XML, _billion_laughs()),
            "external_entity": lambda: ("200 OK", _XML, _external_entity()),
            "http_500": lambda: ("500 Internal Server Error", "text/plain", b"Internal Server Error"),
        }
        return answers[kind]()

    def _answer(self, operation: str, node: StdElement, credentials: dict[str, str]) -> Response:
        try:
            self._authenticate(credentials)
            return "200 OK", _XML, _envelope(self._dispatch(operation, node))
        except SoapFault as fault:
            return _fault_response(fault)
        except Exception:  # a bug in the simulator: answer like an ERP would, keep serving
            log.exception("erp simulator: %s failed", operation)
            return _fault_response(SoapFault("Server", "internal error", "INTERNAL"))

    def _authenticate(self, credentials: dict[str, str]) -> None:
        expected = self._accounts.get(credentials.get("Username", ""))
        given = credentials.get("Password", "")
        # compare_digest: the simulator should not teach timing leaks
        if expected is None or not hmac.compare_digest(expected.encode(), given.encode()):
            raise SoapFault("Client", "authentication failed: unknown user or wrong password", "AUTH_FAILED")

    # ---------------------------------------------------------------------------------- operations

    def _dispatch(self, operation: str, node: StdElement) -> etree._Element:
        if operation in PAGED:
            return self._get_page(operation, _children(node))
        handlers: dict[str, Callable[[StdElement], etree._Element]] = {
            "Ping": self._ping,
            "FindSalesOrderByContract": self._find_by_contract,
            "CreateSalesOrder": self._create_order,
        }
        if operation not in handlers:
            raise SoapFault("Client", f"unknown operation {operation!r}", "BAD_REQUEST")
        return handlers[operation](node)

    def _ping(self, _node: StdElement) -> etree._Element:
        response = etree.Element(_q("PingResponse"))
        _sub(response, "version", VERSION)
        return response

    def _get_page(self, operation: str, params: dict[str, str]) -> etree._Element:
        entity, after_param, item, fields = PAGED[operation]
        since = _since(params.get("modifiedSince", ""))
        size = _page_size(params.get("pageSize", ""))
        rows, has_more = self.store.page(entity, since, params.get(after_param, ""), size)
        if self.page_delay_s:
            time.sleep(self.page_delay_s)
        response = etree.Element(_q(f"{operation}Response"))
        items = _sub(response, "items")
        for row in rows:
            items.append(_record(item, row, fields))
        _sub(response, "hasMore", "true" if has_more else "false")
        return response

    def _find_by_contract(self, node: StdElement) -> etree._Element:
        response = etree.Element(_q("FindSalesOrderByContractResponse"))
        bill_no = self.store.find_order_by_contract(_children(node).get("contractNo", ""))
        if bill_no:
            _sub(response, "billNo", bill_no)
        return response

    def _create_order(self, node: StdElement) -> etree._Element:
        try:
            bill_no = self.store.create_order(_parse_order(node))
        except ValidationFailed as exc:
            raise SoapFault("Client", f"invalid sales order: {exc}", "VALIDATION", exc.field) from exc
        response = etree.Element(_q("CreateSalesOrderResponse"))
        _sub(response, "billNo", bill_no)
        return response


def main(argv: list[str] | None = None) -> None:
    """Run the simulator in the foreground until Ctrl-C."""
    parser = argparse.ArgumentParser(description="Simulated SOAP ERP for the CRM hub")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8790)
    parser.add_argument("--no-bad-rows", action="store_true", help="leave out the rows mappings must reject")
    parser.add_argument("--page-delay", type=float, default=0.0, help="seconds to wait before each page")
    args = parser.parse_args(argv)
    from connectors.testing.erp_data import seed

    server = ErpSoapServer(args.host, args.port, seed(bad_rows=not args.no_bad_rows), args.page_delay).start()
    print(f"ERP simulator at {server.url} (WSDL {server.wsdl_url}); rows: {server.store.counts()}")
    print(f"  HUB_SOAP_ERP__WSDL_URL={server.wsdl_url} HUB_SOAP_ERP__USERNAME={DEMO_USERNAME} "
          f"HUB_SOAP_ERP__PASSWORD={DEMO_PASSWORD}")
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())  # a demo runner stops us with SIGTERM
    try:
        while not stopping.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


if __name__ == "__main__":
    main()
