"""A small in-memory e-cology for the unit tests, answering the fake host's HTTP requests: regist/applytoken with
a stand-in for RSA (the fake host has none: `seal` below is what the fake `crypto.rsa-encrypt` does, and the OA
checks it was sealed with its current key), the HR pages, paService, OFS and SSO. The real wire is exercised
against the Rust simulator (tests/src/ecology_sim) through `qiao connectors test --config`."""

import base64
import itertools
import json
from typing import Any, Callable, Dict, List, Optional, Tuple
from urllib.parse import parse_qsl, urlsplit

from qiao_sdk import testing

BASE = "https://oa.example.test"
APPID = "qiao-app"
CONFIG = {"base_url": BASE, "appid": APPID, "user_id": "1", "hook_secret": "hook-s3cret",
          "ofs_syscode": "qiao", "sso_appid": "qiao-sso"}


def seal(public_key: bytes, data: bytes, padding: Any) -> bytes:
    """The fake RSA: names the key it was made for, so a stale key is caught like a failed decryption."""
    assert padding.name == "PKCS1V15", "e-cology expects PKCS#1 v1.5"
    return b"RSA[" + bytes(public_key)[:12] + b"]" + bytes(data)


def unseal(spk: str, text: str) -> Optional[str]:
    raw = base64.b64decode(text)
    prefix = b"RSA[" + base64.b64decode(spk)[:12] + b"]"
    return raw[len(prefix):].decode() if raw.startswith(prefix) else None


class FakeOA:
    def __init__(self, host: testing.FakeHost) -> None:
        self.host = host
        self.serial = itertools.count(1)
        self.spk = self._new_key()
        self.secrit = "secrit-1"
        self.registered = False
        self.tokens: Dict[str, str] = {}  # token -> appid
        self.applied_times: List[str] = []
        self.subcompanies: List[Dict[str, Any]] = []
        self.departments: List[Dict[str, Any]] = []
        self.users: List[Dict[str, Any]] = []
        self.hr_calls: List[Tuple[str, Dict[str, Any]]] = []
        self.workflow_calls: List[Tuple[str, str, Dict[str, str]]] = []
        self.workflow_answers: Dict[str, Any] = {}
        self.ofs_calls: List[Tuple[str, Dict[str, Any]]] = []
        self.ofs_result = "1"
        self.sso_calls: List[Dict[str, str]] = []
        self.refuse_tokens = False
        host.rsa_encrypt = seal
        host.handler = self.handle

    def _new_key(self) -> str:
        return base64.b64encode(b"MIIBIjANBgkq-" + str(next(self.serial)).encode() + b"-spk").decode()

    def rotate(self) -> None:
        """What an admin re-registering the app elsewhere does: our kept keys stop working."""
        self.spk, self.secrit, self.tokens = self._new_key(), f"secrit-{next(self.serial)}", {}

    def paths(self) -> List[str]:
        return [urlsplit(r.url).path for r in self.host.requests]

    def _json(self, status: int, value: Any) -> Any:
        http = self.host._modules["http"]
        return http.Response(status=status, headers=[("content-type", "application/json")],
                             body=json.dumps(value, ensure_ascii=False).encode())

    def _text(self, status: int, text: str) -> Any:
        return self.host._modules["http"].Response(status=status, headers=[], body=text.encode())

    def handle(self, request: Any) -> Any:
        url = urlsplit(request.url)
        assert f"{url.scheme}://{url.netloc}" == BASE, request.url
        headers = dict(request.headers)
        path = url.path
        if path == "/api/ec/dev/auth/regist":
            if headers.get("appid") != APPID:
                return self._json(200, {"status": False, "code": "-1", "msg": "appid not licensed"})
            self.registered = True
            return self._json(200, {"status": True, "code": "0", "msg": "ok", "msgShowType": "none",
                                    "secrit": self.secrit, "spk": self.spk})
        if path == "/api/ec/dev/auth/applytoken":
            plain = unseal(self.spk, headers.get("secret", ""))
            if not self.registered or plain != self.secrit:
                return self._json(200, {"status": False, "code": "-1", "msg": "secret decrypt failed"})
            token = f"tok-{next(self.serial)}"
            self.tokens[token] = APPID
            self.applied_times.append(headers.get("time", ""))
            return self._json(200, {"status": True, "code": "0", "msg": "ok", "token": token})
        if path.startswith("/rest/ofs/"):
            body = json.loads(request.body)
            self.ofs_calls.append((path[len("/rest/ofs/"):], body))
            return self._json(200, {"syscode": body.get("syscode"), "operResult": self.ofs_result,
                                    "message": "ok" if self.ofs_result == "1" else "接收人不存在"})
        if path == "/ssologin/getToken":
            form = dict(parse_qsl(request.body.decode()))
            self.sso_calls.append(form)
            if form.get("appid") != "qiao-sso":
                return self._text(200, '{"status":false,"msg":"appid error"}')
            return self._text(200, f"sso-{form.get('loginid')}-token")
        # Business calls: the auth filter first.
        token = headers.get("token", "")
        if self.refuse_tokens or token not in self.tokens:
            return self._json(200, {"status": False, "code": "-1", "msg": "token不存在或者超时：" + token[:8],
                                    "msgShowType": "none"})
        user = None
        if "userid" in headers:
            user = unseal(self.spk, headers["userid"])
            assert user is not None, "userid sealed with a stale key"
        form = dict(parse_qsl(request.body.decode())) if request.body else {}
        form.update(dict(parse_qsl(url.query)))
        if path.startswith("/api/hrm/resful/"):
            return self._hr(path[len("/api/hrm/resful/"):], form)
        if path.startswith("/api/workflow/paService/"):
            name = path[len("/api/workflow/paService/"):]
            self.workflow_calls.append((name, user or "", form))
            answer = self.workflow_answers.get(name, {"code": "SUCCESS", "data": {}, "errMsg": {}})
            return self._json(200, answer(form) if callable(answer) else answer)
        return self._json(404, {"error": "no such path"})

    def _hr(self, name: str, form: Dict[str, str]) -> Any:
        if name.startswith("syn"):
            data = json.loads(form["data"])
            self.hr_calls.append((name, {"data": data}))
            return self._json(200, {"code": "1", "result": {str(i): {"code": "1", "msg": "ok"}
                                                            for i, _ in enumerate(data)}})
        params = json.loads(form["params"])
        self.hr_calls.append((name, params))
        rows = {"getHrmsubcompanyWithPage": self.subcompanies, "getHrmdepartmentWithPage": self.departments,
                "getHrmUserInfoWithPage": self.users}[name]
        for key in ("id", "departmentid", "loginid", "workcode", "departmentcode"):
            if key in params:
                rows = [r for r in rows if str(r.get(key)) == str(params[key])]
        if "modified" in params:
            rows = [r for r in rows if r.get("modified", "") >= params["modified"]]
        page, size = int(params.get("curpage", 1)), int(params.get("pagesize", 20))
        chunk = rows[(page - 1) * size: page * size]
        return self._json(200, {"code": "1", "data": {"totalSize": len(rows), "dataList": chunk, "page": page,
                                                      "pageSize": size}})


def install(config: Optional[Dict[str, str]] = None) -> Tuple[testing.FakeHost, FakeOA]:
    host = testing.install({**CONFIG, **(config or {})})
    return host, FakeOA(host)


def person(id: int, department: int, **fields: Any) -> Dict[str, Any]:
    row = {"id": id, "loginid": f"user{id}", "workcode": f"E{id:04d}", "lastname": f"Person {id}",
           "mobile": f"1380000{id:04d}", "email": f"user{id}@example.test", "departmentid": department,
           "subcompanyid1": 1, "managerid": "", "status": "1", "accounttype": "", "password": "HASHED",
           "created": "2024-01-02 09:00:00", "modified": "2024-01-02 09:00:00"}
    row.update(fields)
    return row


Handler = Callable[[Dict[str, str]], Any]
