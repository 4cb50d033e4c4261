"""chromium — a small Chrome DevTools Protocol driver for Debian's headless Chromium.

Speaks CDP over --remote-debugging-pipe: Chromium reads commands on its fd 3
and writes replies and events on its fd 4, each message one JSON object
followed by a NUL byte. No websocket, no third-party package: the standard
library and /usr/bin/chromium.

    from chromium import Browser
    with Browser() as browser:                       # starts Chromium, opens one page
        status = browser.navigate("http://127.0.0.1:8080/login")   # waits for the load event
        browser.type("input#token", token)
        browser.click("button#login-submit", wait_for_load=True)
        browser.wait_for("document.querySelectorAll('tr.job').length > 0", what="a job row")
        browser.screenshot("/tmp/jobs.png")
        print(browser.evaluate("document.title"), browser.dialogs, browser.cookies())

Every call that waits has a timeout and raises ChromiumError naming what it
waited for (with the tail of Chromium's log when Chromium died). JavaScript
dialogs (alert, confirm, prompt, beforeunload) are recorded in
`browser.dialogs` and answered as they open: dismissed, or accepted while
`browser.accept_dialogs` is True (a confirm() before a form is sent).
close() (or leaving the `with`, or this process's exit) ends Chromium and
every process it started (its process group) and removes its profile; when
this process is killed, Chromium gets SIGKILL too (PR_SET_PDEATHSIG).

Also a command line, for scripts (tools/demo.sh, bench/dashboard_screenshots.sh):

    python3 chromium.py screenshot URL OUT.png [--login-token-file F] [--wait-for SELECTOR]

logs in through the dashboard's /login form first when given a token file
(the first token in it), then writes the page's screenshot.
"""
import argparse
import atexit
import base64
import ctypes
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

CHROMIUM = "/usr/bin/chromium"
_PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True)  # loaded here: the child between fork and exec only calls it
_open_browsers = set()


class ChromiumError(Exception):
    """Chromium failed, answered a command with an error, or a wait timed out."""


class ProtocolError(ChromiumError):
    """Chromium answered a command with an error (e.g. "Execution context was
    destroyed." while the page navigates)."""


class JavaScriptError(ChromiumError):
    """An evaluated expression threw."""


class Browser:
    """One headless Chromium with one page (tab), driven over a CDP pipe.

    width, height: the page's viewport in CSS pixels (screenshots are this
    size). timeout: default seconds for every command and wait.
    """

    def __init__(self, chromium=CHROMIUM, width=1280, height=900, timeout=30.0):
        if not os.access(chromium, os.X_OK):
            raise ChromiumError(f"{chromium}: not found or not executable (Debian's package 'chromium')")
        self.timeout = timeout
        self.accept_dialogs = False
        self.dialogs = []      # Page.javascriptDialogOpening params: {"type", "message", "url", ...}
        self.console = []      # Runtime.consoleAPICalled / Log.entryAdded texts, for diagnostics
        self.exceptions = []   # Runtime.exceptionThrown descriptions
        self._next_id = 0
        self._replies = {}
        self._events = []      # (method, params), in arrival order
        self._cond = threading.Condition()
        self._write_lock = threading.Lock()
        self._dead = None      # why the pipe closed, once it has
        self._session = None
        self._profile = tempfile.mkdtemp(prefix="slimtrain-chromium-")
        self._log_path = os.path.join(self._profile, "chromium.log")
        to_chromium_r, to_chromium_w = os.pipe()
        from_chromium_r, from_chromium_w = os.pipe()

        def child_fds():  # in the child, before exec: its fd 3 reads commands, fd 4 writes replies
            # Chromium dies with this process even when it is killed (a test's timeout):
            # its own children follow when it goes.
            _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
            high_r = os.dup(to_chromium_r)
            high_w = os.dup(from_chromium_w)
            os.dup2(high_r, 3)
            os.dup2(high_w, 4)

        args = [chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
                "--no-default-browser-check", "--disable-extensions", "--disable-background-networking",
                "--disable-sync", "--disable-dev-shm-usage", "--mute-audio", "--hide-scrollbars",
                f"--window-size={width},{height}", f"--user-data-dir={self._profile}",
                "--remote-debugging-pipe", "about:blank"]
        with open(self._log_path, "wb") as log:
            self._process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                             pass_fds=(3, 4), preexec_fn=child_fds, start_new_session=True)
        _open_browsers.add(self)
        os.close(to_chromium_r)
        os.close(from_chromium_w)
        self._out = to_chromium_w
        self._in = from_chromium_r
        self._reader = threading.Thread(target=self._read_loop, name="chromium-cdp", daemon=True)
        self._reader.start()
        try:
            target = self.send("Target.createTarget", {"url": "about:blank"}, session=False)["targetId"]
            self._session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True},
                                      session=False)["sessionId"]
            for domain in ("Page", "Runtime", "Network", "Log"):
                self.send(f"{domain}.enable")
            self.send("Emulation.setDeviceMetricsOverride",
                      {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})
        except BaseException:
            self.close()
            raise

    # --- lifetime -------------------------------------------------------------

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        """Ends Chromium and its children, removes the profile. Safe to call twice."""
        if self._process is None:
            return
        _open_browsers.discard(self)
        try:
            if self._dead is None:
                self._post("Browser.close", {}, session=False)
            self._process.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            pass
        try:
            os.killpg(self._process.pid, signal.SIGKILL)  # its renderers and zygotes too
        except ProcessLookupError:
            pass
        self._process.wait()
        self._process = None
        for fd in (self._out, self._in):
            try:
                os.close(fd)
            except OSError:
                pass
        shutil.rmtree(self._profile, ignore_errors=True)

    def log_tail(self, lines=20):
        """The last lines of Chromium's own stderr, for error messages."""
        try:
            with open(self._log_path, errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return ""

    # --- protocol ---------------------------------------------------------------

    def _read_loop(self):
        buffer = b""
        while True:
            try:
                chunk = os.read(self._in, 1 << 16)
            except OSError as e:
                chunk, why = b"", f"reading the pipe: {e}"
            else:
                why = "Chromium closed the pipe (exited?)"
            if not chunk:
                with self._cond:
                    self._dead = why
                    self._cond.notify_all()
                return
            buffer += chunk
            *messages, buffer = buffer.split(b"\0")
            for raw in messages:
                self._dispatch(json.loads(raw))

    def _dispatch(self, message):
        method = message.get("method")
        if method == "Page.javascriptDialogOpening":
            # A dialog blocks the page (and every evaluate) until handled: dismiss it here.
            self._post("Page.handleJavaScriptDialog", {"accept": self.accept_dialogs},
                       session=message.get("sessionId"))
            self.dialogs.append(message["params"])
        elif method == "Runtime.consoleAPICalled":
            args = message["params"].get("args", [])
            self.console.append(" ".join(str(a.get("value", a.get("description", ""))) for a in args))
        elif method == "Log.entryAdded":
            entry = message["params"]["entry"]
            self.console.append(f"{entry.get('level')}: {entry.get('text')}")
        elif method == "Runtime.exceptionThrown":
            details = message["params"]["exceptionDetails"]
            self.exceptions.append(details.get("exception", {}).get("description", details.get("text")))
        with self._cond:
            if "id" in message:
                self._replies[message["id"]] = message
            else:
                self._events.append((method, message.get("params", {})))
            self._cond.notify_all()

    def _post(self, method, params, session=True):
        """Sends a command without waiting; returns its id. session: True for the page's
        session, False for the browser, or a session id."""
        with self._write_lock:
            self._next_id += 1
            message = {"id": self._next_id, "method": method, "params": params}
            session_id = self._session if session is True else session
            if session_id:
                message["sessionId"] = session_id
            data = json.dumps(message).encode() + b"\0"
            while data:
                data = data[os.write(self._out, data):]
            return message["id"]

    def send(self, method, params=None, session=True, timeout=None):
        """Sends a CDP command and returns its result (a dict). Raises
        ChromiumError on an error reply, on timeout, or when Chromium died."""
        timeout = self.timeout if timeout is None else timeout
        if self._dead is not None:
            raise ChromiumError(f"{method}: {self._dead}; Chromium's log:\n{self.log_tail()}")
        try:
            command_id = self._post(method, params or {}, session)
        except OSError as e:
            raise ChromiumError(f"{method}: cannot write to Chromium ({e}); its log:\n{self.log_tail()}")
        with self._cond:
            reply = self._wait_locked(lambda: self._replies.pop(command_id, None), method, timeout,
                                      f"{method}: no reply from Chromium in {timeout:g} s")
        if "error" in reply:
            raise ProtocolError(f"{method}({json.dumps(params)[:200]}): {reply['error'].get('message')} "
                                f"{reply['error'].get('data', '')}".rstrip())
        return reply.get("result", {})

    def _event_mark(self):
        with self._cond:
            return len(self._events)

    def _wait_locked(self, ready, what, timeout, timeout_message):
        """With self._cond held: ready()'s first value that is not None, waiting
        on the condition between tries. ChromiumError (`what` and the log) when
        Chromium dies, `timeout_message` after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            value = ready()
            if value is not None:
                return value
            if self._dead is not None:
                raise ChromiumError(f"{what}: {self._dead}; Chromium's log:\n{self.log_tail()}")
            left = deadline - time.monotonic()
            if left <= 0:
                raise ChromiumError(timeout_message)
            self._cond.wait(left)

    def _wait_event(self, method, since, timeout, what, match=lambda params: True):
        """The params of the first `method` event after index `since` that `match`es."""
        seen = [since]

        def first_match():
            for name, params in self._events[seen[0]:]:
                if name == method and match(params):
                    return params
            seen[0] = len(self._events)
            return None

        with self._cond:
            return self._wait_locked(first_match, f"waiting for {what}", timeout,
                                     f"timed out after {timeout:g} s waiting for {what}")

    def events(self, method):
        """Params of every `method` event received so far (e.g. "Network.responseReceived")."""
        with self._cond:
            return [params for name, params in self._events if name == method]

    # --- pages ------------------------------------------------------------------

    def navigate(self, url, timeout=None):
        """Loads `url` in the page and waits for its load event. Returns the HTTP
        status of the document finally shown (after redirects; data: URLs
        report 200), or None when there was no response (about:blank)."""
        timeout = self.timeout if timeout is None else timeout
        mark = self._event_mark()
        result = self.send("Page.navigate", {"url": url}, timeout=timeout)
        if result.get("errorText"):
            raise ChromiumError(f"navigating to {url}: {result['errorText']}")
        return self._finish_load(mark, result.get("frameId"), timeout, f"the load event of {url}")

    def _finish_load(self, mark, frame_id, timeout, what):
        self._wait_event("Page.loadEventFired", mark, timeout, what)
        responses = [p for p in self.events_since(mark, "Network.responseReceived")
                     if p.get("type") == "Document" and (frame_id is None or p.get("frameId") == frame_id)]
        return responses[-1]["response"]["status"] if responses else None

    def events_since(self, mark, method):
        with self._cond:
            return [params for name, params in self._events[mark:] if name == method]

    def expect_load(self, action, timeout=None, what="a page load"):
        """Runs action() (a click that submits a form, say) and waits for the
        page load it causes; returns that document's HTTP status."""
        timeout = self.timeout if timeout is None else timeout
        mark = self._event_mark()
        action()
        return self._finish_load(mark, None, timeout, what)

    @property
    def url(self):
        return self.evaluate("location.href")

    def evaluate(self, expression, await_promise=False, timeout=None):
        """Evaluates a JavaScript expression in the page; returns its value
        (JSON-serialisable values only; undefined is None). Raises
        JavaScriptError when it throws."""
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                                "awaitPromise": await_promise, "userGesture": True},
                           timeout=timeout)
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            raise JavaScriptError(f"evaluating {expression[:200]!r}: {text}")
        return result["result"].get("value")

    def wait_for(self, condition, timeout=None, what=None, interval=0.1):
        """Polls the JavaScript expression `condition` until it is truthy (in
        JavaScript's sense); returns its value (True for a DOM node). On
        timeout raises ChromiumError naming `what` (or the expression) and
        its last value."""
        timeout = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        value = None
        while True:
            try:
                truthy, value = self.evaluate(f"(v => [!!v, v instanceof Node ? true : v])(({condition}))")
            except (JavaScriptError, ProtocolError) as e:  # e.g. the page is being replaced
                value = f"<threw: {e}>"
            else:
                if truthy:
                    return value
            if time.monotonic() >= deadline:
                raise ChromiumError(f"timed out after {timeout:g} s waiting for {what or condition} "
                                    f"(last value: {value!r})")
            time.sleep(interval)

    def exists(self, selector):
        return self.evaluate(f"document.querySelector({json.dumps(selector)}) !== null")

    def text(self, selector):
        """textContent of the first element matching `selector`; ChromiumError when none does."""
        value = self.evaluate(f"(e => e === null ? null : e.textContent)(document.querySelector({json.dumps(selector)}))")
        if value is None:
            raise ChromiumError(f"no element matches {selector!r} on {self.url}")
        return value

    def click(self, selector, wait_for_load=False, timeout=None):
        """Clicks the middle of the first element matching `selector` with real
        mouse events (it is scrolled into view first). wait_for_load: also wait
        for the page load the click causes; returns its HTTP status then."""
        box = self.evaluate(f"""(() => {{
            const e = document.querySelector({json.dumps(selector)});
            if (e === null) return null;
            e.scrollIntoView({{block: "center"}});
            const r = e.getBoundingClientRect();
            return {{x: r.left + r.width / 2, y: r.top + r.height / 2, w: r.width, h: r.height}};
        }})()""")
        if box is None:
            raise ChromiumError(f"click: no element matches {selector!r} on {self.url}")
        if box["w"] <= 0 or box["h"] <= 0:
            raise ChromiumError(f"click: {selector!r} is not visible (its box is {box['w']}x{box['h']})")

        def press():
            for kind in ("mousePressed", "mouseReleased"):
                self.send("Input.dispatchMouseEvent", {"type": kind, "x": box["x"], "y": box["y"],
                                                       "button": "left", "clickCount": 1})
        if wait_for_load:
            return self.expect_load(press, timeout, f"the page load after clicking {selector!r}")
        press()
        return None

    def type(self, selector, text):
        """Focuses the input matching `selector`, clears it and types `text`."""
        found = self.evaluate(f"""(() => {{
            const e = document.querySelector({json.dumps(selector)});
            if (e === null) return false;
            e.focus(); e.value = ""; return true;
        }})()""")
        if not found:
            raise ChromiumError(f"type: no element matches {selector!r} on {self.url}")
        self.send("Input.insertText", {"text": text})

    def screenshot(self, path, full_page=False):
        """Writes a PNG of the viewport (full_page: of the whole page, as tall
        as its content) to `path`; returns path."""
        params = {"format": "png"}
        if full_page:
            size = self.send("Page.getLayoutMetrics")["cssContentSize"]
            params.update(captureBeyondViewport=True,
                          clip={"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1})
        data = base64.b64decode(self.send("Page.captureScreenshot", params)["data"])
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
        return path

    def cookies(self):
        """The page's cookies: a list of CDP Network.Cookie dicts (name, value, httpOnly, sameSite, ...)."""
        return self.send("Network.getCookies")["cookies"]

    def clear_cookies(self):
        self.send("Network.clearBrowserCookies")


@atexit.register
def _close_open_browsers():
    for browser in list(_open_browsers):
        browser.close()


def login(browser, base_url, token, next_path=None):
    """Logs in through the dashboard's /login form (contract: input#token,
    button#login-submit); returns the HTTP status of the page it lands on."""
    url = urllib.parse.urljoin(base_url, "/login")
    if next_path:
        url += "?next=" + urllib.parse.quote(next_path)
    browser.navigate(url)
    browser.type("input#token", token)
    return browser.click("button#login-submit", wait_for_load=True)


def read_token(path):
    """The first token of a tokens file (lines 'TOKEN USER ROLE', # comments)."""
    with open(os.path.expanduser(path)) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                return line.split()[0]
    raise ValueError(f"{path}: no token in it")


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    shot = commands.add_parser("screenshot", help="write a PNG of URL")
    shot.add_argument("url")
    shot.add_argument("output")
    shot.add_argument("--login-token-file", help="log in through URL's /login with this file's first token")
    shot.add_argument("--wait-for", help="CSS selector to wait for before the screenshot")
    shot.add_argument("--timeout", type=float, default=30)
    args = parser.parse_args(argv)
    with Browser(timeout=args.timeout) as browser:
        if args.login_token_file:
            login(browser, args.url, read_token(args.login_token_file))
        status = browser.navigate(args.url)
        if status is not None and status >= 400:
            print(f"{args.url}: HTTP {status}", file=sys.stderr)
            return 1
        if args.wait_for:
            browser.wait_for(f"document.querySelector({json.dumps(args.wait_for)})", what=args.wait_for)
        browser.screenshot(args.output)
    print(args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
