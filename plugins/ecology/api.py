"""Calls to e-cology 9: sign-in (`regist` → `applytoken`), the signed business calls, and what each family's answer
envelope means. Facts: ECOLOGY.md §1 (auth), §2 (HR `{"code":"1"}`), §3 (workflow `{code, data, errMsg}`),
§4 (OFS `operResult`), §6 (SSO).

Sign-in: `regist` (headers appid, cpk) gives `secrit` and the server's public key `spk`, kept in kv without expiry
(re-registering may rotate them). `applytoken` (headers appid, secret = RSA(spk, secrit), time) gives a token, kept
in kv for its lifetime less a margin. A business call whose token the OA refuses drops it and applies once more; a
refused `applytoken` re-registers once, since the OA may have forgotten or rotated our keys."""

import base64
import json
from typing import Any, Dict, List, Optional

from componentize_py_types import Err
from qiao_sdk import errors, json_http, json_kv, logging, token
from qiao_sdk.text import Params, with_query
from wit_world.imports import crypto, types

import settings

REGIST = "/api/ec/dev/auth/regist"
APPLY_TOKEN = "/api/ec/dev/auth/applytoken"
#: Longest platform message kept in an error (they reach API callers).
MESSAGE_LIMIT = 300


def _keys_key() -> str:
    return token.cache_key("ecology-keys", [settings.base_url(), settings.appid()])


def _token_key() -> str:
    return token.cache_key("ecology", [settings.base_url(), settings.appid()])


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text[:MESSAGE_LIMIT]


def _answer(response: json_http.Response) -> Any:
    """The JSON of a 2xx answer; any other status is the error it means."""
    if not response.is_success():
        raise error_for_status(response)
    if not response.body.strip():
        return None
    return response.json()


def error_for_status(response: json_http.Response) -> "Err[types.Error]":
    status = response.status
    detail = response.text()[:MESSAGE_LIMIT]
    if status == 401:
        return errors.unauthorized("e-cology refused the credentials", platform_code=status, platform_message=detail)
    if status == 403:
        return errors.forbidden("e-cology refused the call (IP allow-list or permission)", platform_code=status,
                                platform_message=detail)
    if status == 404:
        return errors.not_found("no such e-cology endpoint (check base_url and the OA's version)",
                                platform_code=status, platform_message=detail)
    if status == 429:
        return errors.rate_limited("e-cology is throttling this connection", platform_code=status,
                                   platform_message=detail)
    if 400 <= status < 500:
        return errors.invalid_input("e-cology refused the request", platform_code=status, platform_message=detail)
    return errors.unavailable(f"e-cology answered {status}", platform_code=status, platform_message=detail)


def rsa_base64(spk: str, plain: str) -> str:
    """Base64(RSA-PKCS#1 v1.5(spk, plain)): how e-cology wants `secret` and `userid` (ECOLOGY.md §1.5)."""
    try:
        der = base64.b64decode(spk.strip(), validate=False)
    except ValueError:
        raise errors.internal("e-cology's server public key (spk) is not Base64") from None
    try:
        cipher = crypto.rsa_encrypt(der, plain.encode(), crypto.RsaPadding.PKCS1V15)
    except Err as e:
        raise errors.internal(f"cannot encrypt with e-cology's server public key: {e.value}") from None
    return base64.b64encode(bytes(cipher)).decode()


def _succeeded(body: Any) -> bool:
    return isinstance(body, dict) and (body.get("status") is True or str(body.get("code")) == "0")


def _auth_message(body: Any) -> Optional[str]:
    if not isinstance(body, dict):
        return None
    for key in ("msg", "errmsg", "message"):
        if isinstance(body.get(key), str) and body[key]:
            return _short(body[key])
    return None


def register() -> Dict[str, str]:
    """Calls `regist` and keeps what it gives."""
    headers = {"appid": settings.appid()}
    cpk = settings.cpk()
    if cpk:
        headers["cpk"] = cpk
    body = _answer(json_http.post(settings.base_url() + REGIST, headers=headers))
    secrit = body.get("secrit") if isinstance(body, dict) else None  # sic: e-cology's spelling
    spk = body.get("spk") if isinstance(body, dict) else None
    if not _succeeded(body) or not isinstance(secrit, str) or not secrit or not isinstance(spk, str) or not spk:
        code = body.get("code") or body.get("errcode") if isinstance(body, dict) else None
        raise errors.unauthorized("e-cology refused to register this appid (is it in ECOLOGY_BIZ_EC, and "
                                  "/api/ec/dev/auth/regist unchecked in weaver_session_filter.properties?)",
                                  platform_code=code, platform_message=_auth_message(body))
    keys = {"secrit": secrit, "spk": spk}
    json_kv.set(_keys_key(), keys)
    logging.info("registered with e-cology")
    return keys


def keys() -> Dict[str, str]:
    cached = json_kv.get(_keys_key())
    if isinstance(cached, dict) and isinstance(cached.get("secrit"), str) and isinstance(cached.get("spk"), str):
        return cached
    return register()


def _apply(keys: Dict[str, str]) -> token.Token:
    ttl = settings.token_ttl()
    headers = {"appid": settings.appid(), "secret": rsa_base64(keys["spk"], keys["secrit"]), "time": str(ttl)}
    body = _answer(json_http.post(settings.base_url() + APPLY_TOKEN, headers=headers))
    value = body.get("token") if isinstance(body, dict) else None
    if not isinstance(value, str) or not value or (isinstance(body, dict) and body.get("status") is False):
        code = body.get("code") or body.get("errcode") if isinstance(body, dict) else None
        raise errors.unauthorized("e-cology refused to issue a token", platform_code=code,
                                  platform_message=_auth_message(body))
    return token.Token(value, ttl)


def _fetch_token() -> token.Token:
    try:
        return _apply(keys())
    except Err as e:
        if errors.kind_of(e) != types.ErrorKind.UNAUTHORIZED:
            raise
        logging.info("e-cology refused a token for the kept keys; registering again")
    return _apply(register())


def token_refused(response: json_http.Response, body: Any) -> bool:
    """Whether e-cology refused the token itself (expired, unknown), not the call: HTTP 401, or the auth filter's
    `{"status": false, "msg": "token不存在或者超时..."}` / `{"code": "-1", ...}` without a business envelope."""
    if response.status == 401:
        return True
    if not isinstance(body, dict) or body.get("status") is not False:
        return False
    message = (_auth_message(body) or "").lower()
    # "userid解密失败" too: the userid was sealed with a key the OA no longer holds, which a new token (and, if
    # that fails, a new registration) repairs.
    return "token" in message or "认证" in message or "解密" in message


def session_refused(body: Any) -> bool:
    """The auth filter's answer to a `userid` naming nobody active (`{"msg":"登录信息超时","errorCode":"002"}`)."""
    return isinstance(body, dict) and body.get("status") is False and "code" not in body


def signed(method: str, path: str, *, user: Optional[str], params: Params = (), form: Optional[Params] = None,
           json_body: Any = None) -> Any:
    """A business call with `appid`, `token` and (for calls acting as someone) `userid` = RSA(spk, user id); the
    answer's JSON. `user=None` sends `skipsession: 1` instead, as Weaver's samples do for system-level calls."""
    url = with_query(settings.base_url() + path, params)

    def attempt(value: str) -> Any:
        headers = {"appid": settings.appid(), "token": value}
        if user is not None:
            headers["userid"] = rsa_base64(keys()["spk"], user)
            headers["skipsession"] = "0"
        else:
            headers["skipsession"] = "1"
        response = json_http.send(method, url, headers=headers, form=form, json=json_body)
        body: Any = None
        if response.body.strip():
            try:
                body = json.loads(response.body)
            except ValueError:
                body = None
        if token_refused(response, body):
            raise errors.unauthorized("e-cology refused the token", platform_code=response.status,
                                      platform_message=_auth_message(body))
        if session_refused(body):
            raise errors.invalid_input("e-cology does not accept the acting OA user (unknown, inactive, or no "
                                       "userid where one is needed)", platform_code=body.get("errorCode"),
                                       platform_message=_auth_message(body))
        if not response.is_success():
            raise error_for_status(response)
        if body is None and response.body.strip():
            return response.json()  # raises `internal` quoting what came
        return body

    return token.with_token(_token_key(), _fetch_token, attempt)


# Workflow (paService): {"code": "SUCCESS" | ..., "data": ..., "errMsg": {...}}

WORKFLOW = "/api/workflow/paService/"
_WORKFLOW_ERRORS = {
    "PARAM_ERROR": (types.ErrorKind.INVALID_INPUT, "e-cology refused the parameters"),
    "NO_PERMISSION": (types.ErrorKind.FORBIDDEN, "the acting OA user may not do this"),
    "SYSTEM_INNER_ERROR": (types.ErrorKind.UNAVAILABLE, "e-cology failed internally"),
    "USER_EXCEPTION": (types.ErrorKind.INVALID_INPUT, "e-cology could not resolve the acting user (userid)"),
}


def workflow(method: str, name: str, *, user: str, params: Params = (), form: Optional[Params] = None) -> Any:
    """A paService call as `user`; its `data` (or, for list endpoints answering without an envelope, the body)."""
    body = signed(method, WORKFLOW + name, user=user, params=params, form=form)
    return workflow_data(body, name)


def workflow_data(body: Any, name: str) -> Any:
    if isinstance(body, dict) and "code" in body:
        code = str(body.get("code"))
        if code == "SUCCESS":
            return body.get("data")
        kind, message = _WORKFLOW_ERRORS.get(code, (types.ErrorKind.INTERNAL, "e-cology answered an unknown code"))
        detail = body.get("errMsg") or body.get("msg")
        raise errors.error(kind, f"{name}: {message}", platform_code=code,
                           platform_message=_short(detail) if detail else None)
    if isinstance(body, dict) and "datas" in body:  # the older `{status, datas}` list shape (ECOLOGY.md §3)
        return body["datas"]
    return body


# HR (resful): {"code": "1", "data": {...}} or, for the syn* writes, {"code": "1", "result": {...}}

HRM = "/api/hrm/resful/"


def hrm(name: str, params: Dict[str, Any]) -> Any:
    """An HR REST call (`params` as a JSON string in a form field, as Weaver's demo sends complex parameters); the
    whole answer after checking its code."""
    body = signed("POST", HRM + name, user=None, form={"params": json.dumps(params, ensure_ascii=False)})
    return hrm_checked(body, name)


def hrm_write(name: str, data: List[Dict[str, Any]]) -> Any:
    body = signed("POST", HRM + name, user=None, form={"data": json.dumps(data, ensure_ascii=False)})
    body = hrm_checked(body, name)
    result = body.get("result")
    if isinstance(result, dict):
        for key, item in result.items():
            if isinstance(item, dict) and str(item.get("code")) != "1":
                raise errors.invalid_input(f"{name}: e-cology refused {key}", platform_code=item.get("code"),
                                           platform_message=_short(item.get("msg") or ""))
    return body


def hrm_checked(body: Any, name: str) -> Dict[str, Any]:
    if not isinstance(body, dict):
        raise errors.internal(f"{name}: e-cology answered something other than a JSON object")
    code = str(body.get("code"))
    if code == "1":
        return body
    message = body.get("msg") or body.get("message") or body.get("errmsg")
    raise errors.unavailable(f"{name}: e-cology answered code {code}", platform_code=code,
                             platform_message=_short(message) if message else None)


# Unified to-do (OFS): plain JSON posts, no token (the OA checks the caller's IP); {"operResult": "1"|"0", ...}

def ofs(name: str, payload: Dict[str, Any]) -> Dict[str, Any]:
    body = _answer(json_http.post(settings.base_url() + "/rest/ofs/" + name, payload))
    if not isinstance(body, dict):
        raise errors.internal(f"{name}: e-cology answered something other than a JSON object")
    if str(body.get("operResult")) != "1":
        raise errors.invalid_input(f"{name}: the unified to-do centre refused it (receiver unknown to its person "
                                   "mapping, syscode not registered, or caller IP not allowed)",
                                   platform_code=body.get("operResult"),
                                   platform_message=_short(body.get("message") or ""))
    return body


# SSO: POST /ssologin/getToken (form appid, loginid) → the token as plain text

def sso_token(loginid: str) -> str:
    response = json_http.post(settings.base_url() + "/ssologin/getToken",
                              form={"appid": settings.sso_appid(), "loginid": loginid})
    if not response.is_success():
        raise error_for_status(response)
    text = response.text().strip()
    # A refusal comes back as JSON or an HTML page, never as one bare token.
    if "用户不存在" in text:
        raise errors.not_found("e-cology knows no active person with that loginid", platform_message=text[:100])
    if not text or len(text) > 512 or any(c in text for c in " <>{}\"\n"):
        raise errors.forbidden("e-cology issued no sign-in token (is token sign-in enabled for sso_appid, and "
                               "this loginid known?)", platform_message=text[:MESSAGE_LIMIT] if text else None)
    return text
