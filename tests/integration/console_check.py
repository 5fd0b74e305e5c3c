#!/usr/bin/env python3
"""console_check.py — checks a running audit console (owcp-admin serve)
that test_console.c started against a dispatcher with traffic:

  1. over HTTP (http.client, no redirects followed): redirects and 401
     without a session, security headers, sign-in (right and wrong pair,
     cookie attributes, throttling from the fourth failure in a row),
     filters and 400 on bad values, the transaction pages, the receipt
     download, /verify, the CSV and JSON-lines export, sign-out and CSRF;
  2. in headless Chromium over the DevTools protocol (a minimal websocket
     client on the standard library): sign-in through the form, each page
     loaded, its DOM checked and a screenshot kept in ARTEFACTS; hostile
     strings never become elements or run script.

Exit status 0 when every check passed.
"""
import argparse
import base64
import http.client
import json
import os
import re
import select
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.parse

FAILS = []
PASSWORD = "correct horse battery"


def check(name, cond, detail=""):
    if cond:
        print("ok   " + name)
    else:
        print("FAIL " + name + (": " + str(detail)[:800] if detail else ""))
        FAILS.append(name)


class Console:
    def __init__(self, base):
        u = urllib.parse.urlsplit(base)
        self.host, self.port = u.hostname, u.port

    def req(self, method, path, body=None, cookie=None, headers=None):
        c = http.client.HTTPConnection(self.host, self.port, timeout=30)
        h = dict(headers or {})
        if cookie:
            h["Cookie"] = "owcp_console=" + cookie
        if body is not None:
            h["Content-Type"] = "application/x-www-form-urlencoded"
            body = urllib.parse.urlencode(body)
        c.request(method, path, body=body, headers=h)
        r = c.getresponse()
        data = r.read()
        c.close()
        return r.status, r.headers, data

    def login(self, user, password):
        return self.req("POST", "/login", {"user": user, "password": password})


def cookie_of(headers):
    m = re.match(r"owcp_console=([^;]+)", headers.get("Set-Cookie") or "")
    return m.group(1) if m else None


def http_checks(con, ids, db):
    # Without a session.
    s, h, _ = con.req("GET", "/")
    check("log-without-session-303", s == 303 and h["Location"] == "/login", s)
    s, h, _ = con.req("GET", "/tx/" + ids["accepted"])
    check("tx-without-session-303", s == 303 and h["Location"] == "/login", s)
    s, h, _ = con.req("GET", "/export?format=csv")
    check("export-without-session-401", s == 401, s)
    s, h, _ = con.req("GET", "/", cookie="forged-session-value")
    check("forged-cookie-303", s == 303, s)

    # The form and the security headers.
    s, h, body = con.req("GET", "/login")
    csp = h.get("Content-Security-Policy") or ""
    check("login-form", s == 200 and b'name="user"' in body
          and b'name="password"' in body, s)
    check("csp-strict", "default-src 'none'" in csp and "style-src 'self'" in csp
          and "frame-ancestors 'none'" in csp and "script" not in csp, csp)
    check("nosniff", h.get("X-Content-Type-Options") == "nosniff")
    check("no-referrer", h.get("Referrer-Policy") == "no-referrer")
    check("no-inline-style-or-script", b"<script" not in body
          and b"style=" not in body and b"<style" not in body)

    # Right pair.
    s, h, _ = con.login("auditor", PASSWORD)
    sc = h.get("Set-Cookie") or ""
    cookie = cookie_of(h)
    check("login-303-to-log", s == 303 and h["Location"] == "/", s)
    check("cookie-attributes", cookie and "HttpOnly" in sc
          and "SameSite=Strict" in sc and "Secure" not in sc, sc)
    s, _, body = con.req("GET", "/", cookie=cookie)
    check("session-works", s == 200 and b'id="log"' in body, s)

    # Wrong pairs: a form with an error and no cookie; from the fourth
    # failure in a row, 429 with Retry-After (even for the right pair).
    for i in range(3):
        s, h, body = con.login("auditor", "wrong %d" % i)
        check("wrong-password-%d-200-no-cookie" % (i + 1),
              s == 200 and b"Wrong user name or password" in body
              and h.get("Set-Cookie") is None, s)
    s, h, _ = con.login("auditor", "wrong again")
    check("fourth-failure-429", s == 429 and int(h.get("Retry-After", "0")) >= 1,
          (s, h.get("Retry-After")))
    s, h, _ = con.login("auditor", PASSWORD)
    check("throttled-even-right-pair", s == 429 and cookie_of(h) is None, s)
    time.sleep(int(h.get("Retry-After", "1")) + 0.5)
    s, h, _ = con.login("auditor", PASSWORD)
    check("after-wait-login-works", s == 303 and cookie_of(h), s)
    s, h, body = con.login("nobody", PASSWORD)
    check("unknown-user-200-no-cookie", s == 200 and h.get("Set-Cookie") is None)

    # The log and its filters.
    s, _, body = con.req("GET", "/", cookie=cookie)
    page = body.decode()
    for kind in ("accepted", "rejected", "hostile", "tampered", "cancelled",
                 "expired"):
        check("log-lists-" + kind, "/tx/" + ids[kind] in page)
    s, _, body = con.req("GET", "/?transaction=" + ids["accepted"], cookie=cookie)
    rows = re.findall(r'href="/tx/([^"]+)"', body.decode())
    check("filter-transaction", s == 200 and rows and
          set(rows) == {ids["accepted"]}, rows)
    s, _, body = con.req("GET", "/?event=transaction.expired", cookie=cookie)
    rows = re.findall(r'href="/tx/([^"]+)"', body.decode())
    check("filter-event", s == 200 and set(rows) == {ids["expired"]}, rows)
    s, _, body = con.req("GET", "/?account=nobody%40example.com", cookie=cookie)
    check("filter-account-empty", s == 200 and b'id="empty"' in body, s)
    s, _, body = con.req("GET", "/?account=alice%40example.com&event="
                         "transaction.cancelled", cookie=cookie)
    rows = re.findall(r'href="/tx/([^"]+)"', body.decode())
    check("filters-and", set(rows) == {ids["cancelled"]}, rows)
    s, _, body = con.req("GET", "/?from=2100-01-01T00:00:00Z", cookie=cookie)
    check("filter-from-future-empty", s == 200 and b'id="empty"' in body, s)
    s, _, body = con.req("GET", "/?to=2000-01-01T00:00:00Z", cookie=cookie)
    check("filter-to-past-empty", s == 200 and b'id="empty"' in body, s)
    s, _, body = con.req("GET", "/?from=2000-01-01T00:00:00Z&to="
                         "2100-01-01T00:00:00Z", cookie=cookie)
    check("filter-range-all", s == 200 and ids["accepted"].encode() in body, s)
    for bad in ("from=yesterday", "to=2026-13-01T00:00:00Z", "event=BAD",
                "event=%3Cscript%3E", "color=red", "before=-1",
                "account=a%0Ab"):
        s, _, _ = con.req("GET", "/?" + bad, cookie=cookie)
        check("bad-filter-400 " + bad, s == 400, s)

    # Transaction pages.
    s, _, body = con.req("GET", "/tx/" + ids["accepted"], cookie=cookie)
    page = body.decode()
    check("tx-accepted-verified", s == 200 and "Receipt verified" in page, s)
    check("tx-rendered-money", "EUR 1,234.50" in page)
    check("tx-rendered-bold", "<b>ACME Corp</b>" in page)
    check("tx-rendered-table", "<th>Item</th>" in page)
    check("tx-barcode-svg", "<svg class=\"barcode\"" in page)
    check("tx-exact-xml-escaped", "&lt;Request xmlns=" in page)
    check("tx-state-answered", ">answered<" in page)
    s, _, body = con.req("GET", "/tx/" + ids["tampered"], cookie=cookie)
    check("tx-tampered-not-verified", b"Receipt NOT verified: " in body, s)
    s, _, body = con.req("GET", "/tx/" + ids["cancelled"], cookie=cookie)
    check("tx-cancelled", b">cancelled<" in body and b"Not answered" in body)
    s, _, body = con.req("GET", "/tx/" + ids["expired"], cookie=cookie)
    check("tx-expired", b">expired<" in body)
    s, _, body = con.req("GET", "/tx/" + ids["rejected"], cookie=cookie)
    check("tx-rejected", b">Reject<" in body and b"Receipt verified" in body)
    s, _, body = con.req("GET", "/tx/" + ids["hostile"], cookie=cookie)
    page = body.decode()
    check("hostile-escaped", "&lt;script&gt;window.pwned=1&lt;/script&gt;" in page
          and "&lt;img src=x onerror=" in page and "[U+202E]" in page, page[:400])
    check("hostile-no-markup", "<script" not in page and "<img" not in page)
    s, _, _ = con.req("GET", "/tx/no-such-transaction-id-00000", cookie=cookie)
    check("tx-unknown-404", s == 404, s)
    s, h, body = con.req("GET", "/receipt/" + ids["accepted"], cookie=cookie)
    check("receipt-download", s == 200 and body[:1] == b"\x30"
          and "attachment" in (h.get("Content-Disposition") or ""), s)

    # Verification.
    s, _, body = con.req("GET", "/verify", cookie=cookie)
    check("verify-chain", s == 200 and b"Log chain verified" in body, body[:300])
    check("verify-head-signature", b"Signature verified" in body)

    # Export.
    s, h, body = con.req("GET", "/export?format=csv", cookie=cookie)
    lines = body.decode().splitlines()
    check("export-csv", s == 200 and lines[0] ==
          "position,time,event,account,requestor,client,transaction,hash"
          and "attachment" in (h.get("Content-Disposition") or ""), lines[:1])
    n_csv = len(lines) - 1
    s, h, body = con.req("GET", "/export?format=jsonl", cookie=cookie)
    objs = [json.loads(x) for x in body.decode().splitlines()]
    check("export-jsonl", s == 200 and objs and list(objs[0].keys()) ==
          ["position", "time", "event", "account", "requestor", "client",
           "transaction", "hash"] and len(objs) == n_csv, (len(objs), n_csv))
    check("export-jsonl-hashes", all(re.fullmatch("[0-9a-f]{64}", o["hash"] or "")
                                     for o in objs))
    s, h, body = con.req("GET", "/export?format=jsonl&transaction=" +
                         ids["accepted"], cookie=cookie)
    objs = [json.loads(x) for x in body.decode().splitlines()]
    check("export-filtered", objs and all(o["transaction"] == ids["accepted"]
                                          for o in objs))
    s, _, _ = con.req("GET", "/export?format=xml", cookie=cookie)
    check("export-bad-format-400", s == 400, s)
    s, _, _ = con.req("GET", "/export", cookie=cookie)
    check("export-no-format-400", s == 400, s)
    s, h, _ = con.req("GET", "/style.css")
    check("stylesheet", s == 200 and h["Content-Type"].startswith("text/css"))
    return cookie


def logout_checks(con, cookie):
    s, _, body = con.req("GET", "/", cookie=cookie)
    m = re.search(rb'name="csrf" value="([^"]+)"', body)
    s, _, _ = con.req("POST", "/logout", {"csrf": "wrong"}, cookie=cookie)
    check("logout-bad-csrf-403", s == 403, s)
    s, _, _ = con.req("GET", "/", cookie=cookie)
    check("session-survives-bad-csrf", s == 200, s)
    s, h, _ = con.req("POST", "/logout", {"csrf": m.group(1).decode()},
                      cookie=cookie)
    check("logout-303", s == 303 and h["Location"] == "/login", s)
    s, _, _ = con.req("GET", "/", cookie=cookie)
    check("session-ended", s == 303, s)


# ---- the DevTools protocol -------------------------------------------------

class WebSocket:
    """Just enough of RFC 6455 for the DevTools protocol on loopback."""

    def __init__(self, url):
        u = urllib.parse.urlsplit(url)
        self.sock = socket.create_connection((u.hostname, u.port), timeout=60)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(("GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: "
                           "websocket\r\nConnection: Upgrade\r\n"
                           "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: "
                           "13\r\n\r\n" % (u.path, u.hostname, u.port, key))
                          .encode())
        resp = b""
        while b"\r\n\r\n" not in resp:
            resp += self.sock.recv(1)
        if b" 101 " not in resp.split(b"\r\n")[0]:
            raise RuntimeError("websocket handshake failed: %r" % resp)

    def send(self, text):
        data = text.encode()
        mask = os.urandom(4)
        head = b"\x81"
        n = len(data)
        if n < 126:
            head += bytes([0x80 | n])
        elif n < 65536:
            head += bytes([0x80 | 126]) + struct.pack(">H", n)
        else:
            head += bytes([0x80 | 127]) + struct.pack(">Q", n)
        self.sock.sendall(head + mask +
                          bytes(b ^ mask[i % 4] for i, b in enumerate(data)))

    def _exact(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise RuntimeError("websocket closed")
            buf += chunk
        return buf

    def recv(self):
        message = b""
        while True:
            b0, b1 = self._exact(2)
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack(">H", self._exact(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", self._exact(8))[0]
            payload = self._exact(n)
            message += payload
            if b0 & 0x80:
                return message.decode()


class Browser:
    def __init__(self, artefacts):
        self.profile = tempfile.mkdtemp(prefix="owcp-chromium.")
        self.proc = subprocess.Popen(
            ["chromium", "--headless=new", "--no-sandbox", "--disable-gpu",
             "--no-first-run", "--remote-debugging-address=127.0.0.1",
             "--remote-debugging-port=0", "--user-data-dir=" + self.profile,
             "--window-size=1200,1600", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        port = None
        deadline = time.time() + 60
        err = b""
        while port is None and time.time() < deadline:
            r, _, _ = select.select([self.proc.stderr], [], [], 1)
            if r:
                line = self.proc.stderr.readline()
                err += line
                m = re.search(rb"ws://127\.0\.0\.1:(\d+)/", line)
                if m:
                    port = int(m.group(1))
        if port is None:
            raise RuntimeError("chromium did not start: %r" % err[-2000:])
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        c.request("GET", "/json/list")
        pages = [t for t in json.loads(c.getresponse().read())
                 if t["type"] == "page"]
        self.ws = WebSocket(pages[0]["webSocketDebuggerUrl"])
        self.next_id = 0
        self.artefacts = artefacts
        self.call("Page.enable")
        self.call("Runtime.enable")

    def call(self, method, **params):
        self.next_id += 1
        mid = self.next_id
        self.ws.send(json.dumps({"id": mid, "method": method,
                                 "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == mid:
                if "error" in msg:
                    raise RuntimeError("%s: %s" % (method, msg["error"]))
                return msg.get("result", {})

    def wait_load(self, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            msg = json.loads(self.ws.recv())
            if msg.get("method") == "Page.loadEventFired":
                return
        raise RuntimeError("page did not load")

    def goto(self, url):
        self.call("Page.navigate", url=url)
        self.wait_load()

    def eval(self, expression):
        r = self.call("Runtime.evaluate", expression=expression,
                      returnByValue=True)
        return r["result"].get("value")

    def shot(self, name):
        png = base64.b64decode(self.call("Page.captureScreenshot",
                                         format="png")["data"])
        with open(os.path.join(self.artefacts, name + ".png"), "wb") as f:
            f.write(png)
        html = self.eval("document.documentElement.outerHTML")
        with open(os.path.join(self.artefacts, name + ".html"), "w") as f:
            f.write(html or "")
        return len(png)

    def close(self):
        self.proc.kill()
        self.proc.wait()
        shutil.rmtree(self.profile, ignore_errors=True)


DOM_PROBE = """JSON.stringify({
  path: location.pathname,
  pwned: (typeof window.pwned === 'undefined') ? null : window.pwned,
  scripts: document.querySelectorAll('script').length,
  imgs: document.querySelectorAll('img').length,
  onerror: document.querySelectorAll('[onerror]').length,
  jsLinks: document.querySelectorAll('a[href^="javascript"]').length,
  links: Array.from(document.querySelectorAll('a.tx')).map(a => a.textContent),
  receipt: (document.getElementById('receipt') || {}).textContent || null,
  summary: (document.getElementById('summary') || {}).textContent || null,
  rendered: (document.getElementById('rendered') || {}).innerText || null,
  bold: Array.from(document.querySelectorAll('#rendered b')).map(b => b.textContent),
  svg: document.querySelectorAll('#rendered svg.barcode').length,
  body: document.body.innerText
})"""


def probe(b):
    return json.loads(b.eval(DOM_PROBE))


def browser_checks(base, ids, artefacts):
    b = Browser(artefacts)
    try:
        b.goto(base + "/")
        d = probe(b)
        check("browser-redirected-to-login", d["path"] == "/login", d["path"])
        b.shot("01-login")
        # Sign in through the form, as a person would.
        b.eval("document.querySelector('input[name=user]').value='auditor';"
               "document.querySelector('input[name=password]').value=%s;"
               "document.querySelector('form[action=\"/login\"]').submit();"
               % json.dumps(PASSWORD))
        b.wait_load()
        d = probe(b)
        check("browser-signed-in", d["path"] == "/" and
              all(ids[k] in d["links"] for k in
                  ("accepted", "rejected", "hostile", "tampered", "cancelled",
                   "expired")), d["links"])
        check("browser-log-screenshot", b.shot("02-log") > 1000)

        b.goto(base + "/?event=transaction.cancelled")
        d = probe(b)
        check("browser-filter-narrows", set(d["links"]) == {ids["cancelled"]},
              d["links"])
        b.shot("03-log-filtered")

        b.goto(base + "/tx/" + ids["accepted"])
        d = probe(b)
        check("browser-tx-rendered", d["rendered"] and "EUR 1,234.50" in
              d["rendered"] and "ACME Corp" in d["bold"] and d["svg"] == 1,
              d["rendered"])
        check("browser-receipt-verified", d["receipt"] == "Receipt verified",
              d["receipt"])
        b.shot("04-tx-accepted")

        b.goto(base + "/tx/" + ids["tampered"])
        d = probe(b)
        check("browser-tampered-not-verified", (d["receipt"] or "").startswith(
            "Receipt NOT verified: "), d["receipt"])
        b.shot("05-tx-tampered")

        b.goto(base + "/tx/" + ids["hostile"])
        time.sleep(0.5)  # an onerror handler would have run by now
        d = probe(b)
        check("browser-hostile-no-script-ran", d["pwned"] is None, d["pwned"])
        check("browser-hostile-no-elements", d["scripts"] == 0 and
              d["imgs"] == 0 and d["onerror"] == 0 and d["jsLinks"] == 0, d)
        check("browser-hostile-as-text", "<script>window.pwned=1</script>" in
              (d["summary"] or "") and "[U+202E]" in (d["summary"] or ""),
              d["summary"])
        check("browser-hostile-description-as-text",
              '<img src=x onerror="window.pwned=4">' in d["body"] and
              "[U+202E]phone" in d["body"], d["body"][-600:])
        b.shot("06-tx-hostile")

        for name, path in (("07-tx-cancelled", "/tx/" + ids["cancelled"]),
                           ("08-tx-expired", "/tx/" + ids["expired"]),
                           ("09-tx-rejected", "/tx/" + ids["rejected"])):
            b.goto(base + path)
            d = probe(b)
            check("browser-" + name, "State" in d["body"] and d["pwned"] is None)
            b.shot(name)

        b.goto(base + "/verify")
        d = probe(b)
        check("browser-verify", "Log chain verified" in d["body"] and
              "Signature verified" in d["body"], d["body"][:300])
        b.shot("10-verify")

        # Sign out with the form: the session ends.
        b.eval("document.querySelector('form[action=\"/logout\"]').submit()")
        b.wait_load()
        b.goto(base + "/")
        d = probe(b)
        check("browser-signed-out", d["path"] == "/login", d["path"])
    finally:
        b.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ready", required=True)
    ap.add_argument("--ids", required=True)
    ap.add_argument("--artefacts", required=True)
    a = ap.parse_args()
    base = open(a.ready).read().strip()
    ids = json.load(open(a.ids))
    os.makedirs(a.artefacts, exist_ok=True)
    con = Console(base)
    cookie = http_checks(con, ids, ids.get("db"))
    browser_checks(base, ids, a.artefacts)
    logout_checks(con, cookie)
    print("%d failure(s)" % len(FAILS))
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
