"""A WeCom (企业微信) server API simulator on loopback, with real paths, JSON shapes and errcodes.

    GET  /cgi-bin/gettoken?corpid=…&corpsecret=…            40013 bad corp id, 40001 bad secret
    POST /cgi-bin/checkin/getcheckindata?access_token=…     301023 > 100 users, 301022 > 30 days
    POST /cgi-bin/oa/getapprovaldetail?access_token=…       301025 unknown sp_no
    GET  /cgi-bin/externalcontact/get?access_token=…&external_userid=…[&cursor=…]   84061 unknown
    POST /cgi-bin/user/list_id?access_token=…               cursor paging of dept_user
    POST /cgi-bin/webhook/send?key=…                        93000 bad key, 45009 > 20 per minute

Every token-guarded call answers 41001 without a token, 40014 for an unknown one, 42001 for an
expired one and 48002 for another app's. Tests control it:

    with WecomServer(data=seed()) as wecom:                 # port 0: a free port
        wecom.fail_next("/cgi-bin/checkin/getcheckindata", errcode=45009, times=2)
        wecom.fail_next("/cgi-bin/gettoken", http_status=500)
        wecom.delay("/cgi-bin/oa/getapprovaldetail", 3.0)
        wecom.expire_tokens()                               # the next call with any token: 42001
        wecom.call_count("/cgi-bin/gettoken")

and send callbacks to a hub the way WeCom does (`callback_request`, `post_callback`, the
`*_event_xml` builders), encrypted with connectors.wecom.crypto.WecomCrypto.

    python -m connectors.testing.wecom_server serve --port 8791        # prints the HUB_WECOM__… settings
    python -m connectors.testing.wecom_server callback --hub http://127.0.0.1:8000 --kind approval
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import random
import secrets
import signal
import threading
import time
import zlib
from collections import Counter, defaultdict, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from connectors.testing.loopback import LoopbackServer
from connectors.wecom.crypto import WecomCrypto

log = logging.getLogger(__name__)

DEMO_CORP_ID = "ww5f3c8a1d2b7e9f40"
DEMO_SECRETS = {
    "checkin": "sim-checkin-secret-7Qm2vX9pL4",
    "approval": "sim-approval-secret-Hk3Wd8Rt1Z",
    "contact": "sim-contact-secret-Nb6Yc2Fs5J",
    "directory": "sim-directory-secret-Pe9Ua4Gx7M",
}
DEMO_CALLBACK_TOKEN = "HubSimCallbackToken"
DEMO_AES_KEY = "kW3n8Zq1Lr5Tx7Vb9Nc2Md4Fg6Hj0Ks8Pa1Qe3Ry5Ui"  # 43 characters
DEMO_ROBOT_KEY = "6f1c2a9e-4b7d-4e21-9c3a-58d0e7b1f4a2"
SEED_START = dt.date(2024, 8, 1)
CHINA = dt.timezone(dt.timedelta(hours=8))
MAX_USERS, MAX_SPAN_S = 100, 30 * 86400
ROBOT_PER_MINUTE = 20
APP_OF_PATH = {
    "/cgi-bin/checkin/getcheckindata": ("checkin",),
    "/cgi-bin/oa/getapprovaldetail": ("approval",),
    "/cgi-bin/externalcontact/get": ("contact",),
    "/cgi-bin/user/list_id": ("directory", "checkin"),  # the simulator lets the check-in app list members
}
ERRMSG = {
    0: "ok", -1: "system busy", 40001: "invalid credential", 40013: "invalid corpid", 40014: "invalid access_token",
    41001: "access_token missing", 42001: "access_token expired", 45009: "api freq out of limit",
    48002: "api forbidden", 60011: "no privilege to access/modify contact/party/agent", 84061: "not external contact",
    93000: "invalid webhook url", 301022: "checkin time range exceeds 30 days",
    301023: "useridlist is empty or has more than 100 userids", 301025: "approval not found", 40058: "invalid request",
}

# --------------------------------------------------------------------------------------------- data

CUSTOMER_SITES = [
    ("苏州华成机械有限公司", "江苏省苏州市吴中区木渎镇金枫南路1258号", 31259871, 120506412),
    ("无锡恒泰精密制造有限公司", "江苏省无锡市新吴区长江路21号", 31490214, 120356788),
    ("宁波东海液压件有限公司", "浙江省宁波市北仑区明州路566号", 29905632, 121844019),
    ("常州瑞丰电气设备有限公司", "江苏省常州市武进区常武中路18号", 31701536, 119954873),
    ("上海申联自动化科技有限公司", "上海市闵行区莘庄工业区春东路508号", 31058127, 121381940),
]
FIELD_USERS = ["zhangwei", "lina", "wangfang", "liuyang", "chenjie", "yangmin", "zhaolei", "huangli",
               "zhouqiang", "wuhao", "xujing", "sunpeng"]


@dataclass
class WecomData:
    """What the simulated corp holds: members, check-ins, approvals and external contacts."""

    users: list[dict[str, Any]] = field(default_factory=list)
    checkins: list[dict[str, Any]] = field(default_factory=list)
    approvals: dict[str, dict[str, Any]] = field(default_factory=dict)
    contacts: dict[str, dict[str, Any]] = field(default_factory=dict)


def _epoch(day: dt.date, hour: int, minute: int, second: int = 0) -> int:
    return int(dt.datetime.combine(day, dt.time(hour, minute, second), CHINA).timestamp())


def seed(n_users: int = 105, field_users: int = 12, start: dt.date = SEED_START, days: int = 45,
         seed_value: int = 7) -> WecomData:
    """Deterministic data: `n_users` members, check-ins of the first `field_users` on weekdays."""
    rng = random.Random(seed_value)
    names = FIELD_USERS + [f"user{i:03d}" for i in range(max(0, n_users - len(FIELD_USERS)))]
    users: list[dict[str, Any]] = [{"userid": name, "department": 2 if i < field_users else 3 + i % 4}
             for i, name in enumerate(names[:n_users])]
    data = WecomData(users=users)
    for user in users[:field_users]:
        for offset in range(days):
            day = start + dt.timedelta(days=offset)
            if day.weekday() < 5:
                data.checkins += _day_of(user["userid"], day, rng)
    data.checkins.sort(key=lambda r: (r["checkin_time"], r["userid"]))
    data.approvals = {a["sp_no"]: a for a in _approvals(start)}
    data.contacts = {c["external_contact"]["external_userid"]: c for c in _contacts()}
    return data


def _checkin(userid: str, kind: str, when: int, scheduled: int = 0, site: tuple[str, str, int, int] | None = None,
             notes: str = "", exception: str = "") -> dict[str, Any]:
    title, detail, lat, lng = site or ("", "", 0, 0)
    return {"userid": userid, "groupname": "销售部外勤", "checkin_type": kind, "exception_type": exception,
            "checkin_time": when, "location_title": title, "location_detail": detail, "wifiname": "",
            "notes": notes, "wifimac": "", "mediaids": [], "lat": lat, "lng": lng,
            "deviceid": f"SIM-{userid.upper()}", "sch_checkin_time": scheduled, "groupid": 3, "schedule_id": 0,
            "timeline_id": 1}


def _day_of(userid: str, day: dt.date, rng: random.Random) -> list[dict[str, Any]]:
    late = rng.random() < 0.1
    rows = [_checkin(userid, "上班打卡", _epoch(day, 9 if late else 8, rng.randint(5, 40) if late else
                                           rng.randint(30, 58), rng.randint(0, 59)), _epoch(day, 9, 0),
                     exception="时间异常" if late else "")]
    for visit in range(rng.choice((0, 1, 1, 2))):
        site = rng.choice(CUSTOMER_SITES)
        rows.append(_checkin(userid, "外出打卡", _epoch(day, 10 + 3 * visit, rng.randint(0, 59), rng.randint(0, 59)),
                             site=site, notes=f"拜访{site[0][:4]}，沟通设备改造方案"))
    rows.append(_checkin(userid, "下班打卡", _epoch(day, 18, rng.randint(0, 30), rng.randint(0, 59)),
                         _epoch(day, 18, 0)))
    return rows


def _approvals(start: dt.date) -> list[dict[str, Any]]:
    applied = _epoch(start + dt.timedelta(days=14), 9, 12, 5)
    base = {"template_id": "3WLJF6naF5jhnXvwisuPmE85wVMYcy1S1ZvYibkw", "apply_time": applied,
            "applyer": {"userid": "zhangwei", "partyid": "2"}, "notifyer": [{"userid": "wangfang"}], "comments": []}
    trip = dict(base, sp_no="202408150001", sp_name="出差申请", sp_status=2, sp_record=[
        {"sp_status": 2, "approverattr": 1, "details": [{"approver": {"userid": "lijun"}, "speech": "同意",
                                                          "sp_status": 2, "sptime": applied + 4000, "media_id": []}]}],
        apply_data={"contents": [
            {"control": "Text", "id": "Text-1", "title": [{"text": "出差地点", "lang": "zh_CN"}],
             "value": {"text": "苏州、无锡"}},
            {"control": "Date", "id": "Date-2", "title": [{"text": "开始日期", "lang": "zh_CN"}],
             "value": {"date": {"type": "day", "s_timestamp": str(_epoch(start + dt.timedelta(days=15), 0, 0))}}},
            {"control": "Number", "id": "Number-3", "title": [{"text": "出差天数", "lang": "zh_CN"}],
             "value": {"new_number": "3"}}]})
    price = dict(base, sp_no="202408160002", sp_name="特价审批", sp_status=1, sp_record=[
        {"sp_status": 1, "approverattr": 2, "details": [
            {"approver": {"userid": "lijun"}, "speech": "", "sp_status": 1, "sptime": 0, "media_id": []},
            {"approver": {"userid": "chenqiang"}, "speech": "", "sp_status": 1, "sptime": 0, "media_id": []}]}],
        apply_data={"contents": [
            {"control": "Text", "id": "Text-1", "title": [{"text": "客户名称", "lang": "zh_CN"}],
             "value": {"text": "苏州华成机械有限公司"}},
            {"control": "Money", "id": "Money-2", "title": [{"text": "特价金额", "lang": "zh_CN"}],
             "value": {"new_money": "584800.00"}}]})
    return [trip, price]


def _contacts() -> list[dict[str, Any]]:
    def follow(userid: str, remark: str, mobile: str, when: int, tags: list[str]) -> dict[str, Any]:
        return {"userid": userid, "remark": remark, "description": "", "createtime": when,
                "tags": [{"group_name": "客户等级", "tag_name": t, "tag_id": f"et{zlib.crc32(t.encode()):08x}", "type": 1}
                         for t in tags],
                "remark_corp_name": "", "remark_mobiles": [mobile] if mobile else [], "oper_userid": userid,
                "add_way": 1}

    def contact(ext: str, name: str, corp: str, full: str, position: str, gender: int,
                follows: list[dict[str, Any]]) -> dict[str, Any]:
        return {"external_contact": {"external_userid": ext, "name": name, "position": position, "avatar": "",
                                     "corp_name": corp, "corp_full_name": full, "type": 1, "gender": gender},
                "follow_user": follows}

    return [
        contact("wmJ3vXCQAAwYq8l2u1o1Kx9s7QyKp3Aw", "王建国", "华成机械", "苏州华成机械有限公司", "采购经理", 1,
                [follow("zhangwei", "华成王经理", "13812345678", 1710742811, ["重点客户"])]),
        contact("wmJ3vXCQAAq2Lf8Pz6Tn4Rw1Xe9Ub7Ck", "李秀英", "恒泰精密", "无锡恒泰精密制造有限公司", "设备部主管", 2,
                [follow("lina", "恒泰李主管", "13955551234", 1712040000, ["潜在客户"]),
                 follow("zhangwei", "", "", 1712126400, [])]),
        contact("wmJ3vXCQAAs9Dm3Hy5Gv8Jt2Ka6Wn4Zp", "陈志强", "东海液压", "宁波东海液压件有限公司", "总经理", 1,
                [follow("wangfang", "东海陈总", "0574-8686 1234", 1715212800, ["重点客户", "华东"])]),
    ]


# ------------------------------------------------------------------------------------ callbacks


def approval_event_xml(corp_id: str, sp_no: str, status_change: int = 2, create_time: int | None = None,
                       agent_id: int = 3010040) -> str:
    """The sys_approval_change event WeCom sends when an approval changes."""
    when = int(time.time()) if create_time is None else create_time
    return (f"<xml><ToUserName><![CDATA[{corp_id}]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName>"
            f"<CreateTime>{when}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
            f"<Event><![CDATA[sys_approval_change]]></Event><AgentID>{agent_id}</AgentID>"
            f"<ApprovalInfo><SpNo>{sp_no}</SpNo><SpName><![CDATA[审批]]></SpName><SpStatus>1</SpStatus>"
            f"<TemplateId><![CDATA[3WLJF6naF5jhnXvwisuPmE85wVMYcy1S1ZvYibkw]]></TemplateId>"
            f"<ApplyTime>{when}</ApplyTime><Applyer><UserId><![CDATA[zhangwei]]></UserId>"
            f"<Party><![CDATA[2]]></Party></Applyer><StatuChangeEvent>{status_change}</StatuChangeEvent>"
            f"</ApprovalInfo></xml>")


def contact_event_xml(corp_id: str, change_type: str, userid: str, external_userid: str,
                      create_time: int | None = None) -> str:
    """The change_external_contact event (add_external_contact, edit_external_contact, del_…)."""
    when = int(time.time()) if create_time is None else create_time
    return (f"<xml><ToUserName><![CDATA[{corp_id}]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName>"
            f"<CreateTime>{when}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
            f"<Event><![CDATA[change_external_contact]]></Event><ChangeType><![CDATA[{change_type}]]></ChangeType>"
            f"<UserID><![CDATA[{userid}]]></UserID><ExternalUserID><![CDATA[{external_userid}]]></ExternalUserID>"
            f"<State><![CDATA[]]></State><WelcomeCode><![CDATA[]]></WelcomeCode></xml>")


def text_message_xml(corp_id: str, msg_id: str, content: str, from_user: str = "zhangwei",
                     create_time: int | None = None) -> str:
    """A text message an employee sends to the app (carries a MsgId)."""
    when = int(time.time()) if create_time is None else create_time
    return (f"<xml><ToUserName><![CDATA[{corp_id}]]></ToUserName><FromUserName><![CDATA[{from_user}]]></FromUserName>"
            f"<CreateTime>{when}</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[{content}]]>"
            f"</Content><MsgId>{msg_id}</MsgId><AgentID>1000002</AgentID></xml>")


def callback_request(crypto: WecomCrypto, message_xml: str, *, nonce: str | None = None,
                     timestamp: int | None = None) -> tuple[dict[str, str], bytes]:
    """Query parameters and body of the encrypted POST WeCom sends for `message_xml`."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    once = nonce or str(secrets.randbelow(10**10))
    encrypted = crypto.encrypt(message_xml)
    body = (f"<xml><ToUserName><![CDATA[{crypto.receive_id}]]></ToUserName><Encrypt><![CDATA[{encrypted}]]>"
            f"</Encrypt><AgentID><![CDATA[1000002]]></AgentID></xml>").encode()
    params = {"msg_signature": crypto.sign(stamp, once, encrypted), "timestamp": stamp, "nonce": once}
    return params, body


def verification_request(crypto: WecomCrypto, echo: str, *, nonce: str | None = None,
                         timestamp: int | None = None) -> dict[str, str]:
    """Query parameters of the URL verification GET WeCom sends when the callback URL is saved."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    once = nonce or str(secrets.randbelow(10**10))
    echostr = crypto.encrypt(echo)
    return {"msg_signature": crypto.sign(stamp, once, echostr), "timestamp": stamp, "nonce": once, "echostr": echostr}


def post_callback(callback_url: str, crypto: WecomCrypto, message_xml: str, *, timeout_s: float = 10.0,
                  **options: Any) -> httpx.Response:
    """POST one encrypted callback to a hub's /wecom/callback, as WeCom would."""
    params, body = callback_request(crypto, message_xml, **options)
    return httpx.post(callback_url, params=params, content=body, timeout=timeout_s,
                      headers={"Content-Type": "text/xml"})


def demo_crypto(corp_id: str = DEMO_CORP_ID) -> WecomCrypto:
    """The crypto of the simulator's demo callback settings."""
    return WecomCrypto(DEMO_CALLBACK_TOKEN, DEMO_AES_KEY, corp_id)


# ---------------------------------------------------------------------------------------- server


class _Fault:
    def __init__(self, errcode: int | None, http_status: int | None, times: int, delay_s: float) -> None:
        self.errcode, self.http_status, self.times, self.delay_s = errcode, http_status, times, delay_s


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: request lines carry secrets in query strings."""

    def do_GET(self) -> None:
        """Serve a GET."""
        self._serve("GET")

    def do_POST(self) -> None:
        """Serve a POST."""
        self._serve("POST")

    def _serve(self, method: str) -> None:
        parts = urlsplit(self.path)
        params = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        length = min(int(self.headers.get("Content-Length") or 0), 1_000_000)
        body = self.rfile.read(length) if length else b""
        status, answer = self.server.owner.answer(method, parts.path, params, body)
        payload = answer if isinstance(answer, bytes) else json.dumps(answer, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8" if not isinstance(answer, bytes)
                         else "text/plain")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: WecomServer


class WecomServer(LoopbackServer):
    """The simulator: start it (a context manager), point the hub at `url`, inspect and break it."""

    thread_name = "wecom-simulator"

    def __init__(self, host: str = "127.0.0.1", port: int = 0, data: WecomData | None = None, *,
                 corp_id: str = DEMO_CORP_ID, app_secrets: dict[str, str] | None = None,
                 robot_keys: tuple[str, ...] = (DEMO_ROBOT_KEY,), token_ttl_s: int = 7200,
                 follow_page_size: int = 500, robot_per_minute: int = ROBOT_PER_MINUTE) -> None:
        self.host, self.port = host, port
        self.data = data or seed()
        self.corp_id = corp_id
        self.app_secrets = dict(app_secrets or DEMO_SECRETS)
        self.robot_keys = set(robot_keys)
        self.token_ttl_s, self.follow_page_size = token_ttl_s, follow_page_size
        self.robot_per_minute = robot_per_minute
        self.requests: list[tuple[str, dict[str, Any]]] = []  # (path, JSON body) of every API call
        self.webhooks: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self._calls: Counter[str] = Counter()
        self._tokens: dict[str, tuple[str, float]] = {}
        self._faults: dict[str, deque[_Fault]] = defaultdict(deque)
        self._delays: dict[str, float] = {}
        self._robot_sends: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()
        self._init_lifecycle()

    # ------------------------------------------------------------------------------ lifecycle

    def _bind(self) -> _Server:
        server = _Server((self.host, self.port), _Handler)
        server.owner = self
        return server

    @property
    def url(self) -> str:
        """The API base URL (HUB_WECOM__API_BASE_URL)."""
        return f"http://{self.host}:{self.port}"

    def settings(self, **extra: Any) -> dict[str, Any]:
        """`wecom` settings pointing at this simulator (secrets, callback token and key, robot)."""
        values: dict[str, Any] = {
            "corp_id": self.corp_id, "api_base_url": self.url,
            "checkin_secret": self.app_secrets["checkin"], "approval_secret": self.app_secrets["approval"],
            "contact_secret": self.app_secrets["contact"], "directory_secret": self.app_secrets["directory"],
            "callback_token": DEMO_CALLBACK_TOKEN, "encoding_aes_key": DEMO_AES_KEY,
            "robot_keys": {"alerts": DEMO_ROBOT_KEY}, "checkin_start": SEED_START.isoformat(),
            "timeout_s": 5.0, "retries": 2,
        }
        values.update(extra)
        return values

    # ------------------------------------------------------------------------------- controls

    def fail_next(self, path: str, *, errcode: int | None = None, http_status: int | None = None,
                  times: int = 1, delay_s: float = 0.0) -> None:
        """Answer the next `times` calls of `path` with an errcode or an HTTP status (after a delay)."""
        with self._lock:
            self._faults[path].append(_Fault(errcode, http_status, times, delay_s))

    def delay(self, path: str, seconds: float) -> None:
        """Answer every call of `path` after `seconds` (until clear_faults)."""
        self._delays[path] = seconds

    def clear_faults(self) -> None:
        """Forget injected faults and delays."""
        with self._lock:
            self._faults.clear()
            self._delays.clear()

    def expire_tokens(self) -> None:
        """Every token issued so far is expired: the next call with one answers 42001."""
        with self._lock:
            self._tokens = {t: (app, 0.0) for t, (app, _until) in self._tokens.items()}

    def revoke_tokens(self) -> None:
        """Forget every token issued so far: the next call with one answers 40014."""
        with self._lock:
            self._tokens.clear()

    def call_count(self, path: str | None = None) -> int:
        """Calls of `path` (all calls when None)."""
        return sum(self._calls.values()) if path is None else self._calls[path]

    def checkin_requests(self) -> list[dict[str, Any]]:
        """The bodies of every getcheckindata call, in order."""
        return [body for path, body in self.requests if path == "/cgi-bin/checkin/getcheckindata"]

    # ------------------------------------------------------------------------------ answering

    def answer(self, method: str, path: str, params: dict[str, str], body: bytes) -> tuple[int, Any]:
        """(HTTP status, JSON answer or bytes) for one request."""
        with self._lock:
            self._calls[path] += 1
            fault = self._take_fault(path)
        self._stopping.wait(self._delays.get(path, 0.0) + (fault.delay_s if fault else 0.0))
        if fault is not None and fault.http_status:
            return fault.http_status, b"simulated failure"
        if fault is not None and fault.errcode is not None:
            return 200, _error(fault.errcode)
        try:
            request = json.loads(body) if body else {}
        except ValueError:
            return 200, _error(40058)
        if not isinstance(request, dict):
            return 200, _error(40058)
        self.requests.append((path, request))
        return 200, self._route(method, path, params, request)

    def _take_fault(self, path: str) -> _Fault | None:
        queue = self._faults.get(path)
        if not queue:
            return None
        fault = queue[0]
        fault.times -= 1
        if fault.times <= 0:
            queue.popleft()
        return fault

    def _route(self, method: str, path: str, params: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        if path == "/cgi-bin/gettoken" and method == "GET":
            return self._gettoken(params)
        if path == "/cgi-bin/webhook/send" and method == "POST":
            return self._webhook(params.get("key", ""), body)
        handlers = {"/cgi-bin/checkin/getcheckindata": self._checkins, "/cgi-bin/oa/getapprovaldetail": self._approval,
                    "/cgi-bin/externalcontact/get": self._contact, "/cgi-bin/user/list_id": self._list_id}
        if path not in handlers:
            return _error(40058)
        denied = self._authorise(path, params.get("access_token"))
        if denied:
            return _error(denied)
        return handlers[path]({**params, **body})

    def _gettoken(self, params: dict[str, str]) -> dict[str, Any]:
        if params.get("corpid") != self.corp_id:
            return _error(40013)
        app = next((a for a, s in self.app_secrets.items() if s and s == params.get("corpsecret")), None)
        if app is None:
            return _error(40001)
        token = f"sim-{app}-{secrets.token_hex(16)}"
        with self._lock:
            self._tokens[token] = (app, time.monotonic() + self.token_ttl_s)
        return {"errcode": 0, "errmsg": "ok", "access_token": token, "expires_in": self.token_ttl_s}

    def _authorise(self, path: str, token: str | None) -> int:
        if not token:
            return 41001
        with self._lock:
            issued = self._tokens.get(token)
        if issued is None:
            return 40014
        app, until = issued
        if time.monotonic() >= until:
            return 42001
        return 0 if app in APP_OF_PATH[path] else 48002

    def _checkins(self, req: dict[str, Any]) -> dict[str, Any]:
        users, start, end = req.get("useridlist"), req.get("starttime"), req.get("endtime")
        if not isinstance(users, list) or not 0 < len(users) <= MAX_USERS:
            return _error(301023)
        if not isinstance(start, int) or not isinstance(end, int) or not 0 <= end - start <= MAX_SPAN_S:
            return _error(301022)
        kinds = {1: ("上班打卡", "下班打卡"), 2: ("外出打卡",), 3: ("上班打卡", "下班打卡", "外出打卡")}
        wanted, allowed = set(users), kinds.get(int(req.get("opencheckindatatype") or 3), ())
        rows = [r for r in self.data.checkins
                if r["userid"] in wanted and start <= r["checkin_time"] <= end and r["checkin_type"] in allowed]
        return {"errcode": 0, "errmsg": "ok", "checkindata": rows}

    def _approval(self, req: dict[str, Any]) -> dict[str, Any]:
        info = self.data.approvals.get(str(req.get("sp_no") or ""))
        return _error(301025) if info is None else {"errcode": 0, "errmsg": "ok", "info": info}

    def _contact(self, req: dict[str, Any]) -> dict[str, Any]:
        detail = self.data.contacts.get(str(req.get("external_userid") or ""))
        if detail is None:
            return _error(84061)
        first = int(req.get("cursor") or 0)
        follow = detail["follow_user"][first:first + self.follow_page_size]
        more = first + self.follow_page_size < len(detail["follow_user"])
        return {"errcode": 0, "errmsg": "ok", "external_contact": detail["external_contact"], "follow_user": follow,
                "next_cursor": str(first + self.follow_page_size) if more else ""}

    def _list_id(self, req: dict[str, Any]) -> dict[str, Any]:
        first, limit = int(req.get("cursor") or 0), min(int(req.get("limit") or 1000), 10000)
        page = self.data.users[first:first + limit]
        more = first + limit < len(self.data.users)
        return {"errcode": 0, "errmsg": "ok", "next_cursor": str(first + limit) if more else "", "dept_user": page}

    def _webhook(self, key: str, body: dict[str, Any]) -> dict[str, Any]:
        if key not in self.robot_keys:
            return _error(93000)
        content = (body.get("markdown") or {}).get("content") if body.get("msgtype") == "markdown" else None
        if not isinstance(content, str) or not content or len(content.encode()) > 4096:
            return _error(40058)
        now = time.monotonic()
        with self._lock:
            sent = self._robot_sends[key]
            while sent and sent[0] <= now - 60:
                sent.popleft()
            if len(sent) >= self.robot_per_minute:
                return _error(45009)
            sent.append(now)
            self.webhooks[key].append(body)
        return {"errcode": 0, "errmsg": "ok"}


def _error(errcode: int) -> dict[str, Any]:
    hint = secrets.token_hex(4)
    return {"errcode": errcode, "errmsg": f"{ERRMSG.get(errcode, 'error')}, hint: [{hint}], "
                                          f"more info at https://open.work.weixin.qq.com/devtool/query?e={errcode}"}


# ----------------------------------------------------------------------------------------- main


def _serve(port: int) -> None:
    with WecomServer(port=port) as server:
        print(f"WeCom simulator on {server.url}; settings for the hub:")
        for name, value in server.settings(retries=3).items():
            text = json.dumps(value, ensure_ascii=False) if isinstance(value, dict) else str(value)
            print(f"export HUB_WECOM__{name.upper()}='{text}'")
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        try:
            stop.wait()
        except KeyboardInterrupt:
            pass


def _send(hub: str, kind: str, key: str) -> None:
    crypto = demo_crypto()
    if kind == "approval":
        xml = approval_event_xml(DEMO_CORP_ID, key or "202408150001")
    else:
        xml = contact_event_xml(DEMO_CORP_ID, "add_external_contact", "zhangwei",
                                key or "wmJ3vXCQAAwYq8l2u1o1Kx9s7QyKp3Aw")
    response = post_callback(hub.rstrip("/") + "/wecom/callback", crypto, xml)
    print(f"{kind} callback → HTTP {response.status_code} {response.text!r}")


def main(argv: list[str] | None = None) -> None:
    """`serve` the simulator, or send a sample `callback` to a running hub."""
    parser = argparse.ArgumentParser(prog="python -m connectors.testing.wecom_server")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the simulator in the foreground")
    serve.add_argument("--port", type=int, default=8791)
    send = sub.add_parser("callback", help="POST an encrypted sample callback to a hub")
    send.add_argument("--hub", default="http://127.0.0.1:8000")
    send.add_argument("--kind", choices=("approval", "contact"), default="approval")
    send.add_argument("--id", default="", help="sp_no or external_userid (default: a seeded one)")
    args = parser.parse_args(argv)
    if args.command == "serve":
        _serve(args.port)
    else:
        _send(args.hub, args.kind, args.id)


if __name__ == "__main__":
    main()
