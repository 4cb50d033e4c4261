"""The dashboard (issue 18) in Debian's headless Chromium against the real server.

Run by dashboard_browser_test.sh, which starts slimtrain_server with a
tokens file of three users (admin; alice and bob, role user) and sets
SLIMTRAIN_SERVER (gRPC), DASHBOARD_URL (http://127.0.0.1:PORT),
ADMIN_TOKEN, ALICE_TOKEN, BOB_TOKEN and SCREENSHOT_DIR.

What it proves, against /work/dashboard_contract.md:
- login with a token through the form sets an HttpOnly, SameSite=Strict
  session cookie; a wrong token is refused with #login-error; pages redirect
  to /login and the API and /metrics answer 401 without one;
- a training job's curves gain points while it trains, with no reload
  (the page's script polls), it shows on /devices, and the page's cancel
  button cancels it: #job-state turns CANCELLED (the gRPC API agrees);
- bob's job is not on alice's list and its page, plan and events answer
  404 or 403 to her (without its name); the admin sees it;
- a job named <script>alert(1)</script> shows that text, as text, and no
  dialog ever opens;
- a POST with the session cookie but without (or with a wrong) CSRF token
  is refused with 403 and changes nothing; with the page's token it works;
- /jobs/ID/plan.svg of a resnet164 approx4 job draws every buffer of its
  plan (PlanMemory with include_buffers) at its offset, size and steps;
- /metrics parses with prometheus_client's text parser, and its counters
  (jobs started, SubmitJob RPCs) move as jobs are submitted and started;
- screenshots of login, jobs, job, plan explorer and devices are written
  to SCREENSHOT_DIR, are not one colour, and the pages about jobs hold the
  job's id.
"""
import json
import os
import time
import unittest
import urllib.error
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from chromium import Browser, ChromiumError
from png_check import check_not_blank
from proto import job_pb2
from slimtrain_client import Client

BASE = os.environ["DASHBOARD_URL"].rstrip("/")
SCREENSHOTS = os.environ["SCREENSHOT_DIR"]
XSS_NAME = "<script>alert(1)</script>"
BOB_JOB_NAME = "bob-private-job-name"
ACTIVE = (job_pb2.Job.PENDING, job_pb2.Job.RUNNING)


def submit(client, name, model="fmnist_resnet", dataset="fashion-mnist", strategy="approx4", batch=32, steps=2):
    """Submits a small job with a display name; returns its id."""
    return client.submit(model=model, dataset=dataset, strategy=strategy, batch=batch, steps=steps,
                         learning_rate=0.05, name=name).id


def http_get(path, token=None):
    """(status, headers, body) of a GET without the browser (no cookies)."""
    request = urllib.request.Request(BASE + path)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            return r.status, r.headers, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode(errors="replace")


def metric_samples(token):
    """{(sample name, frozenset of labels): value} of /metrics, parsed by
    prometheus_client's text-format parser (it raises on a malformed line)."""
    status, headers, body = http_get("/metrics", token)
    if status != 200:
        raise AssertionError(f"GET /metrics with a Bearer token: HTTP {status}, expected 200: {body[:300]}")
    samples = {}
    for family in text_string_to_metric_families(body):
        for s in family.samples:
            samples[(s.name, frozenset(s.labels.items()))] = s.value
    return samples


def metric(samples, name, **labels):
    """Sum of the samples named `name` whose labels include `labels` (0 when none)."""
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= ls)


class DashboardBrowserTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.admin = Client(token=os.environ["ADMIN_TOKEN"])
        cls.alice = Client(token=os.environ["ALICE_TOKEN"])
        cls.bob = Client(token=os.environ["BOB_TOKEN"])
        cls.metrics_before = metric_samples(os.environ["ADMIN_TOKEN"])
        # The server trains one CPU job at a time: alice's long job runs
        # (about 30 steps/s on one thread; it is cancelled long before its end),
        # the others wait behind it.
        cls.train = submit(cls.alice, "fmnist watched", steps=20000)
        cls.bob_job = submit(cls.bob, BOB_JOB_NAME)
        cls.xss = submit(cls.alice, XSS_NAME)
        cls.csrf_target = submit(cls.alice, "csrf target")
        cls.resnet164 = submit(cls.alice, "resnet164 approx4", model="resnet164", dataset="synthetic", batch=128,
                               steps=1)
        cls.browser = Browser(timeout=30)

    @classmethod
    def tearDownClass(cls):
        cls.browser.close()
        for job in (cls.train, cls.xss, cls.csrf_target, cls.resnet164):
            try:
                cls.alice.cancel(job)
            except Exception:  # already finished
                pass

    def setUp(self):
        self.b = self.browser
        self.b.accept_dialogs = False

    def tearDown(self):
        # Everything the page logged, for a failure's diagnosis.
        if self.b.exceptions:
            print(f"\n{self.id()}: page exceptions: {self.b.exceptions}")

    def log_in(self, token):
        self.b.clear_cookies()
        self.b.navigate(BASE + "/login")
        self.assertTrue(self.b.exists("form#login-form input#token[name=token][type=password]"),
                        "GET /login: no form#login-form with input#token (name=token, type=password)")
        self.b.type("input#token", token)
        status = self.b.click("button#login-submit", wait_for_load=True)
        self.assertEqual(status, 200, f"after logging in: HTTP {status} at {self.b.url}")
        self.assertTrue(self.b.url.startswith(BASE + "/jobs"), f"logging in led to {self.b.url}, not /jobs")

    def shot(self, name, job_id=None, full_page=False):
        """Screenshot to SCREENSHOT_DIR/NAME.png, checked not to be one colour;
        with job_id, the page's DOM must also hold that id."""
        path = self.b.screenshot(os.path.join(SCREENSHOTS, f"{name}.png"), full_page=full_page)
        try:
            check_not_blank(path)
        except ValueError as e:
            self.fail(f"the {name} page's screenshot: {e}")
        if job_id is not None:
            self.assertIn(job_id, self.b.evaluate("document.documentElement.outerHTML"),
                          f"the {name} page ({self.b.url}) does not hold job id {job_id}")

    def fetch(self, method, path, form=None, headers=None):
        """The page's own fetch(), same origin, with its cookies; redirects not
        followed. Returns {"status", "type", "body"} (an unfollowed redirect
        is type "opaqueredirect", status 0)."""
        body = "null" if form is None else f"new URLSearchParams({json.dumps(form)})"
        return self.b.evaluate(
            f"""fetch({json.dumps(path)}, {{method: {json.dumps(method)}, body: {body},
                   headers: {json.dumps(headers or {})}, redirect: "manual", credentials: "same-origin"}})
                .then(async r => ({{status: r.status, type: r.type, body: await r.text()}}))""",
            await_promise=True)

    def state(self, client, job):
        return client.get(job).state

    # --- login -------------------------------------------------------------------

    def test_login_with_a_token(self):
        self.b.clear_cookies()
        status = self.b.navigate(BASE + "/jobs")
        self.assertEqual(status, 200)
        self.assertIn("/login", self.b.url, "GET /jobs without a session did not lead to /login")
        self.assertIn("next=", self.b.url, "the redirect to /login does not carry next=")
        self.shot("login")
        self.b.type("input#token", "not-a-valid-token-0123456789")
        status = self.b.click("button#login-submit", wait_for_load=True)
        self.assertEqual(status, 401, "POST /login with a wrong token")
        self.assertTrue(self.b.exists("#login-error"), "POST /login with a wrong token: no #login-error")
        self.assertFalse([c for c in self.b.cookies() if c["name"] == "slimtrain_session"],
                         "a wrong token got a session cookie")

        self.log_in(os.environ["ALICE_TOKEN"])
        cookies = {c["name"]: c for c in self.b.cookies()}
        self.assertIn("slimtrain_session", cookies, "no slimtrain_session cookie after logging in")
        session = cookies["slimtrain_session"]
        self.assertTrue(session["httpOnly"], "slimtrain_session is not HttpOnly")
        self.assertEqual(session.get("sameSite"), "Strict", "slimtrain_session is not SameSite=Strict")
        self.assertEqual(session["path"], "/")
        self.assertNotIn(os.environ["ALICE_TOKEN"], session["value"], "the session cookie holds the token")
        for path in (f"/api/jobs/{self.train}/events?after=0", "/metrics"):
            status, _, _ = http_get(path)
            self.assertEqual(status, 401, f"GET {path} without a session or token")

    def test_logout_needs_csrf_and_ends_the_session(self):
        self.log_in(os.environ["ALICE_TOKEN"])
        refused = self.fetch("POST", "/logout", form={})
        self.assertEqual(refused["status"], 403, "POST /logout without a CSRF token")
        token = self.b.evaluate("document.querySelector('meta[name=csrf-token]').content")
        done = self.fetch("POST", "/logout", form={"csrf": token})
        self.assertIn(done["type"], ("opaqueredirect",), f"POST /logout with the CSRF token: {done}")
        self.b.navigate(BASE + "/jobs")
        self.assertIn("/login", self.b.url, "after logging out /jobs did not lead to /login")

    # --- a training job, live, then cancelled ------------------------------------------

    def test_training_job_curves_grow_then_cancel(self):
        self.log_in(os.environ["ALICE_TOKEN"])
        row = f'tr.job[data-job-id="{self.train}"]'
        self.b.wait_for(f"document.querySelector('{row}') !== null", what=f"{row} on /jobs")
        self.shot("jobs", self.train)

        status = self.b.navigate(f"{BASE}/jobs/{self.train}")
        self.assertEqual(status, 200, f"GET /jobs/{self.train}")
        self.assertEqual(self.b.text("#job-id").strip(), self.train)
        self.assertEqual(self.b.text("#job-name").strip(), "fmnist watched")
        self.b.wait_for("document.querySelector('#job-state').textContent.trim() === 'RUNNING'", timeout=60,
                        what="#job-state RUNNING")
        count = "(s => s === null ? -1 : +s.getAttribute('data-count'))(document.querySelector({}))"
        counts = {c: f"svg#curve-{c} polyline[data-count]" for c in ("loss", "accuracy", "lr")}
        for curve, selector in counts.items():
            self.assertTrue(self.b.exists(selector), f"the job page has no {selector}")
        loss = count.format(json.dumps(counts["loss"]))
        # The page draws the steps so far after its first poll; later polls
        # (no reload from here on) must add the steps trained since.
        first = self.b.wait_for(f"{loss} > 0 && {loss}", timeout=30, what="the first points of svg#curve-loss")
        self.b.wait_for(f"{loss} >= {first + 5}", timeout=30, what=f"svg#curve-loss to gain 5 points past {first}")
        for curve in ("accuracy", "lr"):
            self.b.wait_for(f"{count.format(json.dumps(counts[curve]))} > 0", timeout=10,
                            what=f"points on svg#curve-{curve}")
        events = "[...document.querySelectorAll('table#events tbody tr')].map(r => r.textContent).join('\\n')"
        self.b.wait_for(f"{events}.includes('RUNNING')", timeout=10,
                        what="a row of table#events saying the job is RUNNING")
        points = self.b.evaluate(f"document.querySelector({json.dumps(counts['loss'])}).getAttribute('points')")
        self.assertGreaterEqual(len((points or "").split()), first + 5,
                                "svg#curve-loss: its points attribute has fewer points than data-count")
        self.assertTrue(self.b.exists("#plan svg#plan-svg"), "the job page has no #plan svg#plan-svg")
        self.assertTrue(self.b.exists("pre#spec"), "the job page has no pre#spec")
        self.shot("job", self.train, full_page=True)

        status = self.b.navigate(BASE + "/devices")
        self.assertEqual(status, 200, "GET /devices")
        bar = f'section.device[data-device="cpu"] svg.device-bars rect[data-job-id="{self.train}"]'
        self.assertTrue(self.b.exists(bar), f"/devices has no {bar} for the running job")
        self.shot("devices", self.train)

        self.b.navigate(f"{BASE}/jobs/{self.train}")
        self.assertTrue(self.b.exists("form#cancel-form input[name=csrf]"),
                        "the running job's page has no form#cancel-form with a hidden csrf input")
        self.b.accept_dialogs = True  # a confirm() before cancelling is fine
        status = self.b.click("button#cancel", wait_for_load=True)
        self.assertEqual(status, 200, f"after clicking button#cancel: HTTP {status} at {self.b.url}")
        self.assertEqual(self.b.url.split("?")[0], f"{BASE}/jobs/{self.train}", "cancel did not lead back to the job")
        self.b.wait_for("document.querySelector('#job-state').textContent.trim() === 'CANCELLED'", timeout=30,
                        what="#job-state CANCELLED after clicking cancel")
        self.assertEqual(self.state(self.alice, self.train), job_pb2.Job.CANCELLED, "GetJob after cancelling")
        self.b.wait_for(f"{events}.includes('CANCELLED')", timeout=10,
                        what="a row of table#events saying the job was CANCELLED")
        self.b.navigate(f"{BASE}/jobs/{self.train}")
        self.assertFalse(self.b.exists("form#cancel-form"), "a cancelled job's page still offers cancel")
        self.assertTrue(self.b.exists("form#delete-form button#delete"), "a cancelled job's page has no delete")

    # --- users --------------------------------------------------------------------------

    def test_another_users_job_is_hidden(self):
        self.log_in(os.environ["ALICE_TOKEN"])
        self.assertTrue(self.b.exists(f'tr.job[data-job-id="{self.xss}"]'), "alice's own job is not on /jobs")
        self.assertFalse(self.b.exists(f'tr.job[data-job-id="{self.bob_job}"]'), "bob's job is on alice's /jobs")
        self.assertNotIn(BOB_JOB_NAME, self.b.evaluate("document.documentElement.outerHTML"))
        for path in (f"/jobs/{self.bob_job}", f"/jobs/{self.bob_job}/plan.svg"):
            status = self.b.navigate(BASE + path)
            self.assertIn(status, (403, 404), f"alice: GET {path} (bob's job)")
            self.assertNotIn(BOB_JOB_NAME, self.b.evaluate("document.documentElement.outerHTML"),
                             f"alice: GET {path} shows bob's job's name")
        self.b.navigate(BASE + "/jobs")
        api = self.fetch("GET", f"/api/jobs/{self.bob_job}/events?after=0")
        self.assertIn(api["status"], (403, 404), f"alice: GET /api/jobs/{self.bob_job}/events (bob's job)")
        csrf = self.b.evaluate("document.querySelector('meta[name=csrf-token]').content")
        post = self.fetch("POST", f"/jobs/{self.bob_job}/cancel", form={"csrf": csrf})
        self.assertIn(post["status"], (403, 404), f"alice: POST /jobs/{self.bob_job}/cancel (bob's job)")
        self.assertIn(self.state(self.bob, self.bob_job), ACTIVE + (job_pb2.Job.SUCCEEDED,),
                      "alice's POST changed bob's job")

        self.log_in(os.environ["ADMIN_TOKEN"])
        for job in (self.bob_job, self.train):
            self.assertTrue(self.b.exists(f'tr.job[data-job-id="{job}"]'), f"the admin's /jobs does not list {job}")
        self.assertEqual(self.b.navigate(f"{BASE}/jobs/{self.bob_job}"), 200, "the admin: GET bob's job")

    # --- escaping ------------------------------------------------------------------------

    def test_script_name_renders_as_text(self):
        self.log_in(os.environ["ALICE_TOKEN"])
        row = f'tr.job[data-job-id="{self.xss}"]'
        self.assertEqual(self.b.text(f"{row} td.name").strip(), XSS_NAME, f"the job name in {row} td.name")
        self.assertEqual(self.b.evaluate(f"document.querySelectorAll('{row} script').length"), 0,
                         "the job name became a <script> element on /jobs")
        # The page's script replaces the rows every 5 s while a job is active: the new rows too.
        self.b.evaluate("document.querySelector('#jobs tbody').dataset.old = 'yes'")
        self.b.wait_for("document.querySelector('#jobs tbody').dataset.old !== 'yes'", timeout=15,
                        what="the jobs page's script to refresh the rows (every 5 s while a job is active)")
        self.assertEqual(self.b.text(f"{row} td.name").strip(), XSS_NAME, f"{row} td.name after the refresh")
        self.assertEqual(self.b.evaluate(f"document.querySelectorAll('{row} script').length"), 0,
                         "the job name became a <script> element when the jobs page refreshed its rows")
        self.b.navigate(f"{BASE}/jobs/{self.xss}")
        self.assertEqual(self.b.text("#job-name").strip(), XSS_NAME, "#job-name")
        self.assertEqual(self.b.evaluate("[...document.scripts].filter(s => s.textContent.includes('alert(1)'))"
                                         ".length"), 0, "the job name became a script on its page")
        time.sleep(1.5)  # a poll of the page's script, which may render the name again
        self.assertEqual(self.b.dialogs, [], "a JavaScript dialog opened")
        status, headers, _ = http_get(f"/login")
        policy = headers.get("Content-Security-Policy", "")
        self.assertIn("script-src 'self'", policy, "GET /login: Content-Security-Policy")
        self.assertEqual(headers.get("X-Content-Type-Options"), "nosniff", "GET /login: X-Content-Type-Options")

    # --- CSRF -----------------------------------------------------------------------------

    def test_post_without_csrf_token_is_refused(self):
        self.log_in(os.environ["ALICE_TOKEN"])
        forms = self.b.evaluate("[...document.forms].filter(f => f.method === 'post')"
                                ".map(f => [f.action, !!f.querySelector('input[type=hidden][name=csrf]')])")
        self.assertTrue(forms, "/jobs has no POST forms (cancel/delete per row)")
        for action, has_csrf in forms:
            self.assertTrue(has_csrf, f"/jobs: the form posting to {action} has no hidden csrf input")
        path = f"/jobs/{self.csrf_target}/cancel"
        before = self.state(self.alice, self.csrf_target)
        self.assertIn(before, ACTIVE, "the CSRF test's job finished too early")
        for what, form in (("without a CSRF token", {}), ("with a wrong CSRF token", {"csrf": "0" * 32})):
            answer = self.fetch("POST", path, form=form)
            self.assertEqual(answer["status"], 403, f"POST {path} {what} (with the session cookie)")
            self.assertIn(self.state(self.alice, self.csrf_target), ACTIVE, f"POST {path} {what} cancelled the job")
        token = self.b.evaluate("document.querySelector('meta[name=csrf-token]').content")
        answer = self.fetch("POST", path, headers={"X-CSRF-Token": token})
        self.assertEqual(answer["type"], "opaqueredirect", f"POST {path} with X-CSRF-Token: {answer}")
        self.assertEqual(self.state(self.alice, self.csrf_target), job_pb2.Job.CANCELLED,
                         f"POST {path} with the page's CSRF token did not cancel the job")

    # --- the memory plan's picture -------------------------------------------------------

    def test_plan_svg_draws_every_buffer_at_its_offset(self):
        job = self.alice.get(self.resnet164)
        plan = self.alice.plan("resnet164", batch=128, strategies=["approx4"], device=job.device or "cpu",
                               include_buffers=True).plans[0]
        self.assertEqual(plan.arena_bytes, job.plan.arena_bytes,
                         "PlanMemory's resnet164 approx4 plan is not the job's (arena_bytes differ)")
        self.log_in(os.environ["ALICE_TOKEN"])
        status = self.b.navigate(f"{BASE}/jobs/{self.resnet164}/plan.svg")
        self.assertEqual(status, 200, f"GET /jobs/{self.resnet164}/plan.svg")
        rects = self.b.evaluate("""[...document.querySelectorAll('rect[data-buffer]')].map(r => ({
            name: r.getAttribute('data-buffer'), offset: +r.getAttribute('data-offset'),
            size: +r.getAttribute('data-size'), first: +r.getAttribute('data-first'),
            last: +r.getAttribute('data-last'), x: +r.getAttribute('x'), y: +r.getAttribute('y'),
            w: +r.getAttribute('width'), h: +r.getAttribute('height')}))""")
        self.assertEqual(len(rects), len(plan.buffers), "plan.svg: rects with data-buffer vs the plan's buffers")
        by_name = {}
        for r in rects:
            self.assertNotIn(r["name"], by_name, f"plan.svg: two rects for buffer {r['name']}")
            by_name[r["name"]] = r
        for buf in plan.buffers:
            r = by_name.get(buf.name)
            self.assertIsNotNone(r, f"plan.svg: no rect for buffer {buf.name}")
            self.assertEqual((r["offset"], r["size"], r["first"], r["last"]),
                             (buf.offset_bytes, buf.size_bytes, buf.first_step, buf.last_step),
                             f"plan.svg: buffer {buf.name}'s data-offset, data-size, data-first, data-last")
        check_arena_geometry(self, rects, plan)


    # --- /metrics -----------------------------------------------------------------------

    def test_metrics_parse_and_counters_move(self):
        token = os.environ["ALICE_TOKEN"]
        before = self.metrics_before
        first = metric_samples(token)
        submits = metric(first, "slimtrain_rpc_requests_total", method="SubmitJob")
        # setUpClass submitted five jobs after `before` was read.
        self.assertGreaterEqual(submits - metric(before, "slimtrain_rpc_requests_total", method="SubmitJob"), 5,
                                "slimtrain_rpc_requests_total{method=SubmitJob} did not count setUpClass's jobs")
        job = submit(self.admin, "metrics probe")
        self.admin.cancel(job)
        second = metric_samples(token)
        self.assertEqual(metric(second, "slimtrain_rpc_requests_total", method="SubmitJob", code="OK"),
                         metric(first, "slimtrain_rpc_requests_total", method="SubmitJob", code="OK") + 1,
                         "slimtrain_rpc_requests_total{method=SubmitJob,code=OK} after one more SubmitJob")
        self.assertGreaterEqual(metric(second, "slimtrain_rpc_requests_total", method="CancelJob"), 1)
        # The watched job started after `before` was read.
        deadline = time.monotonic() + 60
        while metric(second, "slimtrain_jobs_started_total") <= metric(before, "slimtrain_jobs_started_total"):
            self.assertLess(time.monotonic(), deadline, "slimtrain_jobs_started_total did not move in 60 s")
            time.sleep(0.5)
            second = metric_samples(token)
        status, _, _ = http_get("/metrics", "not-a-valid-token-0123456789")
        self.assertEqual(status, 401, "GET /metrics with a wrong token")


    # --- the plan explorer ----------------------------------------------------------------

    def test_plan_explorer(self):
        b = self.b
        self.log_in(os.environ["ALICE_TOKEN"])
        self.assertEqual(b.navigate(BASE + "/plan"), 200, "GET /plan")
        for selector in ("form#plan-form select#model", "form#plan-form input#batch", "form#plan-form input#budget",
                         "form#plan-form select#device", "form#plan-upload input[name=csrf]"):
            self.assertTrue(b.exists(selector), f"/plan has no {selector}")
        b.evaluate("""(() => { const f = document.querySelector('#plan-form');
            f.querySelector('#model').value = 'resnet20'; f.querySelector('#batch').value = '32'; })()""")
        status = b.expect_load(lambda: b.evaluate("document.querySelector('#plan-form').requestSubmit()"),
                               what="the plan explorer's result")
        self.assertEqual(status, 200, f"submitting #plan-form: {b.url}")
        for strategy in ("exact", "approx4"):
            self.assertTrue(b.exists(f'table#strategies tr[data-strategy="{strategy}"]'),
                            f"the explorer's table#strategies has no row for {strategy} ({b.url})")
        self.assertTrue(b.exists("svg#plan-svg rect[data-buffer]"), "the explorer's svg#plan-svg has no buffers")
        self.shot("plan", full_page=True)



def check_arena_geometry(test, rects, plan):
    """The rects are where render/arena_svg.h says: x from LEFT + first ×
    step_width to LEFT + (last + 1) × step_width, y from TOP + HEIGHT −
    (offset + size) × byte_height down to TOP + HEIGHT − offset × byte_height,
    each at least 0.5 wide and high, one step_width and byte_height for all,
    the whole plan inside the WIDTH × HEIGHT plot."""
    left, top, width, height = 90.0, 50.0, 1000.0, 560.0
    steps = max(r["last"] for r in rects) + 1
    # The scales, from the widest and the tallest rectangle (least rounding).
    widest = max(rects, key=lambda r: r["last"] - r["first"])
    step_width = widest["w"] / (widest["last"] + 1 - widest["first"])
    tallest = max(rects, key=lambda r: r["size"])
    byte_height = tallest["h"] / tallest["size"]
    test.assertLessEqual(step_width * steps, width + 0.5, "plan.svg: the steps overflow the plot's width")
    test.assertLessEqual(byte_height * plan.arena_bytes, height + 0.5, "plan.svg: the arena overflows the plot")
    tolerance = 0.51  # coordinates written with a few decimals, minimum size 0.5
    for r in rects:
        where = (f"plan.svg: buffer {r['name']} (offset {r['offset']}, size {r['size']}, steps "
                 f"{r['first']}..{r['last']}) drawn at x={r['x']} y={r['y']} w={r['w']} h={r['h']}")
        want_x = left + r["first"] * step_width
        want_w = max(0.5, (r["last"] + 1 - r["first"]) * step_width)
        want_bottom = top + height - r["offset"] * byte_height
        want_h = max(0.5, r["size"] * byte_height)
        test.assertAlmostEqual(r["x"], want_x, delta=tolerance, msg=f"{where}: x, expected {want_x:.2f}")
        test.assertAlmostEqual(r["w"], want_w, delta=tolerance, msg=f"{where}: width, expected {want_w:.2f}")
        test.assertAlmostEqual(r["y"] + r["h"], want_bottom, delta=tolerance,
                               msg=f"{where}: bottom edge, expected {want_bottom:.2f}")
        test.assertAlmostEqual(r["h"], want_h, delta=tolerance, msg=f"{where}: height, expected {want_h:.2f}")


if __name__ == "__main__":
    unittest.main()
