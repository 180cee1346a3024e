"""The web console of a real `freshet serve`, in a real headless Chromium (Debian's
chromium and chromedriver, driven by Selenium): the page loads without console errors,
its numbers match what boto3 reads from the same API, the live graphs move while a
producer writes, a split appears in the lineage tree, the record browser shows a record
just put (text, JSON and hex; a KPL aggregate taken apart), enhanced fan-out
subscriptions and KCL leases show up, and the Lambda and Firehose panels list what
was created. With --auth the page asks for keys and works once given them.

Usage: console_browser.py main|auth ENDPOINT ARTIFACT_DIR [KEY_ID SECRET]
Keeps a screenshot of each page in ARTIFACT_DIR; ends with "N passed, M failed".
"""

import atexit
import base64
import json
import os
import shutil
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

import boto3
import botocore.config
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

import cases
from cases import case, check

MODE, ENDPOINT, ARTIFACTS = sys.argv[1], sys.argv[2], sys.argv[3]
KEY_ID = sys.argv[4] if len(sys.argv) > 4 else "AKIDEXAMPLE"
SECRET = sys.argv[5] if len(sys.argv) > 5 else "secret"
HERE = os.path.dirname(os.path.abspath(__file__))
WAIT = 30  # seconds: the bound of every wait on the page
os.makedirs(ARTIFACTS, exist_ok=True)


def aws(service):
    return boto3.client(
        service,
        endpoint_url=ENDPOINT,
        region_name="us-east-1",
        aws_access_key_id=KEY_ID,
        aws_secret_access_key=SECRET,
        config=botocore.config.Config(retries={"max_attempts": 2}, read_timeout=60, connect_timeout=5),
    )


kinesis = aws("kinesis")


def browser():
    opts = webdriver.ChromeOptions()
    opts.binary_location = os.environ.get("FRESHET_CHROMIUM", "/usr/bin/chromium")
    profile = tempfile.mkdtemp(prefix="freshet-console-chromium-")
    atexit.register(shutil.rmtree, profile, ignore_errors=True)
    for a in [
        "--headless=new",
        "--no-sandbox",  # the tests run as root
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1400,1000",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-extensions",
        "--disable-component-update",
        f"--user-data-dir={profile}",
    ]:
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(executable_path=os.environ.get("FRESHET_CHROMEDRIVER", "/usr/bin/chromedriver"))
    d = webdriver.Chrome(service=service, options=opts)
    d.set_page_load_timeout(WAIT)
    d.set_script_timeout(WAIT)
    return d


d = browser()
logs = []  # every browser console entry seen so far


def console_errors(allow=()):
    """The SEVERE entries of the browser's console since the last call, minus those
    containing one of `allow`."""
    logs.extend(d.get_log("browser"))
    bad = [e for e in logs if e["level"] == "SEVERE" and not any(a in e["message"] for a in allow)]
    logs.clear()
    return bad


def shot(name):
    """Keeps a screenshot of the whole page (not only the window)."""
    path = os.path.join(ARTIFACTS, f"{MODE}-{name}.png")
    size = d.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
    clip = {"x": 0, "y": 0, "width": size["width"], "height": min(size["height"], 8000), "scale": 1}
    png = d.execute_cdp_cmd("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True, "clip": clip})
    with open(path, "wb") as f:
        f.write(base64.b64decode(png["data"]))
    print(f"     screenshot {path}", flush=True)


def until(pred, what, timeout=WAIT):
    """Waits (bounded) until pred(driver) is truthy; returns its value."""
    try:
        # The page redraws what it shows: an element read while replaced is read again.
        wait = WebDriverWait(d, timeout, poll_frequency=0.1, ignored_exceptions=(StaleElementReferenceException,))
        return wait.until(lambda drv: pred(drv))
    except TimeoutException:
        err = d.find_element(By.ID, "error").text
        raise AssertionError(f"timed out after {timeout}s waiting for {what} (page error: {err!r})")


def css(sel):
    return d.find_elements(By.CSS_SELECTOR, sel)


def one(sel):
    return d.find_element(By.CSS_SELECTOR, sel)


def value(sel):
    els = css(sel)
    if not els:
        return None
    v = els[0].get_attribute("data-value")
    return float(v) if v not in (None, "") else None


def wait_value(sel, pred, what):
    """Waits until the figure in `sel` satisfies `pred`; returns it."""
    return until(lambda _: (lambda v: [v] if v is not None and pred(v) else None)(value(sel)), what)[0]


def tab(name):
    one(f'#tabs a[data-tab="{name}"]').click()
    until(lambda _: one(f"#tab-{name}").is_displayed(), f"the {name} tab")


def open_shards(stream):
    shards = kinesis.list_shards(StreamName=stream)["Shards"]
    return [s for s in shards if "EndingSequenceNumber" not in s["SequenceNumberRange"]], shards


def make_stream(name, shards):
    kinesis.create_stream(StreamName=name, ShardCount=shards)
    kinesis.get_waiter("stream_exists").wait(StreamName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 100})


def lease_action(action, body):
    """A Freshet lease action, unsigned (the main mode runs without --auth)."""
    req = urllib.request.Request(
        ENDPOINT + "/",
        data=json.dumps(body).encode(),
        headers={"X-Amz-Target": f"Freshet_20261126.{action}", "Content-Type": "application/x-amz-json-1.1"},
    )
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read() or b"{}")


def browse(stream, shard, type_, at=None, per_page="25"):
    tab("records")
    until(lambda _: stream in [o.get_attribute("value") for o in css("#br-stream option")], f"{stream} in the record browser")
    Select(one("#br-stream")).select_by_value(stream)
    until(lambda _: shard in [o.get_attribute("value") for o in css("#br-shard option")], f"{shard} in the record browser")
    Select(one("#br-shard")).select_by_value(shard)
    Select(one("#br-type")).select_by_value(type_)
    Select(one("#br-limit")).select_by_value(per_page)
    if at is not None:
        box = one("#br-at")
        box.clear()
        box.send_keys(at)
    one("#br-read").click()


def view(kind):
    one(f"#view-{kind}").click()
    until(lambda _: all(p.get_attribute("data-view") == kind for p in css("#br-records pre")), f"the {kind} view")


t_start = time.time()

# -----------------------------------------------------------------------------------
if MODE == "auth":

    @case("without keys the page asks for them and shows nothing else")
    def _():
        make_stream("signed", 2)
        d.get(ENDPOINT + "/console/")
        until(lambda _: one("body").get_attribute("data-ready") == "true", "the page to start")
        check(one("#login").is_displayed(), "the sign-in form shows")
        check(not one("#tabs").is_displayed(), "no tabs before signing in")
        check(not one("#tab-streams").is_displayed(), "no streams before signing in")
        check(console_errors() == [], "no console errors on the sign-in page")
        shot("sign-in")

    @case("the live endpoint refuses unsigned requests")
    def _():
        try:
            urllib.request.urlopen(ENDPOINT + "/console/live", timeout=10)
            check(False, "an unsigned GET /console/live was answered")
        except urllib.error.HTTPError as e:
            check(e.code in (400, 403), f"unsigned live: HTTP {e.code}")
            check(b"MissingAuthenticationToken" in e.read(), "unsigned live: MissingAuthenticationToken")

    @case("wrong keys are refused on the page")
    def _():
        one("#key-id").send_keys(KEY_ID)
        one("#secret").send_keys("not-the-secret")
        one("#sign-in").click()
        until(lambda _: one("#login-error").is_displayed(), "the refusal")
        check("refused" in one("#login-error").text, one("#login-error").text)
        check(not one("#tabs").is_displayed(), "still signed out")
        # The refused request itself is the one error the console logs.
        errs = console_errors()
        check(all("400" in e["message"] or "403" in e["message"] for e in errs), errs)

    @case("with the right keys every panel works, signed in the browser")
    def _():
        check(one("#secret").get_attribute("value") == "", "the refused secret was cleared")
        one("#key-id").clear()
        one("#key-id").send_keys(KEY_ID)
        one("#secret").send_keys(SECRET)
        one("#sign-in").click()
        until(lambda _: one("#tab-streams").is_displayed(), "the streams tab")
        until(lambda _: css('#stream-table tr[data-stream="signed"]'), "the stream in the table")
        wait_value('#stream-table tr[data-stream="signed"] .open-shards', lambda v: v == 2, "2 open shards")
        until(lambda _: one("#live-state").get_attribute("data-state") == "open", "the signed live stream")
        check(KEY_ID in one("#whoami").text, one("#whoami").text)
        # The live figures arrive through the signed stream.
        put = kinesis.put_record(StreamName="signed", PartitionKey="k", Data=b'{"signed": true}')
        wait_value(f'#shard-table tr[data-shard="{put["ShardId"]}"] .records', lambda v: v >= 1, "the put counted live")
        shot("streams")
        browse("signed", put["ShardId"], "AT_SEQUENCE_NUMBER", put["SequenceNumber"])
        until(lambda _: css(f'article[data-seq="{put["SequenceNumber"]}"]'), "the record in the browser")
        check('{"signed": true}' in one(f'article[data-seq="{put["SequenceNumber"]}"] pre').text, "the record's text")
        shot("records")
        tab("functions")
        until(lambda _: one("#no-functions").is_displayed(), "the (empty) function list, signed for lambda")
        tab("delivery")
        until(lambda _: one("#no-delivery").is_displayed(), "the (empty) delivery stream list, signed for firehose")
        check(one("#error").text == "", f"no API errors: {one('#error').text}")
        check(console_errors() == [], "no console errors once signed in")

    @case("the SHA-256 and HMAC the page falls back to match WebCrypto")
    def _():
        # Plain http from another host is not a secure context (no crypto.subtle): the
        # page then signs with its own SHA-256; it must agree with the browser's.
        same = d.execute_async_script(
            """
            const done = arguments[arguments.length - 1];
            const c = window.freshetConsole;
            (async () => {
              const enc = new TextEncoder();
              for (const n of [0, 1, 55, 56, 64, 1000]) {
                const data = enc.encode("x".repeat(n));
                const want = c.hex(new Uint8Array(await crypto.subtle.digest("SHA-256", data)));
                if (c.hex(c.sha256js(data)) !== want) return done("sha256 " + n);
                const key = await crypto.subtle.importKey("raw", enc.encode("k" + n), {name: "HMAC", hash: "SHA-256"}, false, ["sign"]);
                const mac = c.hex(new Uint8Array(await crypto.subtle.sign("HMAC", key, data)));
                if (c.hex(c.hmacjs(enc.encode("k" + n), data)) !== mac) return done("hmac " + n);
              }
              done("same");
            })().catch((e) => done(String(e)));
            """
        )
        check(same == "same", same)

    @case("signing out forgets the keys")
    def _():
        one("#sign-out").click()
        until(lambda _: one("#login").is_displayed(), "the sign-in form")
        check(d.execute_script("return sessionStorage.getItem('freshet-console-keys')") is None, "keys gone")
        check(console_errors() == [], "no console errors")

    d.quit()
    print(f"console auth checks took {time.time() - t_start:.1f}s")
    cases.finish()

# -----------------------------------------------------------------------------------
state = {}


@case("the console loads with no console errors and lists what the API lists")
def _():
    make_stream("orders", 2)
    make_stream("events", 1)
    d.get(ENDPOINT + "/console/")
    until(lambda _: one("body").get_attribute("data-ready") == "true", "the page to start")
    names = kinesis.list_streams()["StreamNames"]
    until(lambda _: sorted(r.get_attribute("data-stream") for r in css("#stream-table tbody tr")) == sorted(names), f"the streams {names}")
    for name in names:
        opened, _ = open_shards(name)
        summary = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
        check(summary["OpenShardCount"] == len(opened), "the API agrees with itself")
        wait_value(f'#stream-table tr[data-stream="{name}"] .open-shards', lambda v, n=len(opened): v == n, f"{name}: {len(opened)} open shards")
        row = one(f'#stream-table tr[data-stream="{name}"]')
        check(summary["StreamStatus"] in row.text, f"{name}: status {summary['StreamStatus']} in {row.text!r}")
    until(lambda _: one("#live-state").get_attribute("data-state") == "open", "the live stream")
    check(one("#error").text == "", f"no API errors: {one('#error').text}")
    check(console_errors() == [], "no console errors after loading")
    shot("streams")


@case("the selected stream's shards are ListShards' shards")
def _():
    one('#stream-table a.select-stream[href="#streams"]')  # links exist
    [link] = [a for a in css("#stream-table a.select-stream") if a.text == "orders"]
    link.click()
    until(lambda _: one("#detail-name").text == "orders", "orders selected")
    _, shards = open_shards("orders")
    ids = sorted(s["ShardId"] for s in shards)
    until(lambda _: sorted(r.get_attribute("data-shard") for r in css("#shard-table tbody tr")) == ids, f"shard rows {ids}")
    until(lambda _: sorted(li.get_attribute("data-shard") for li in css("#lineage li")) == ids, "the lineage tree")
    check(len(css("#lineage > ul.tree > li")) == 2, "two roots before any split")


@case("the graphs move while a producer writes, and the counts match the puts")
def _():
    per_shard = {}
    stop = threading.Event()
    errors = []

    def produce():
        i = 0
        deadline = time.time() + 25  # bounded even if the page never moves
        while not stop.is_set() and time.time() < deadline:
            try:
                r = kinesis.put_records(
                    StreamName="orders",
                    Records=[{"Data": json.dumps({"n": i + j}).encode(), "PartitionKey": f"k{i + j}"} for j in range(20)],
                )
                for rec in r["Records"]:
                    per_shard[rec["ShardId"]] = per_shard.get(rec["ShardId"], 0) + 1
                i += 20
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(e)
                return
            time.sleep(0.05)

    graph = "#total-records-graph"
    before_draws = int(one(graph).get_attribute("data-draws") or 0)
    t = threading.Thread(target=produce, daemon=True)
    t.start()
    try:
        wait_value("#total-in-rps", lambda v: v > 0, "incoming records/s above 0")
        first = one(f"{graph} polyline.in").get_attribute("points")
        until(lambda _: one(f"{graph} polyline.in").get_attribute("points") != first, "the records graph to move")
        until(lambda _: int(one(graph).get_attribute("data-draws")) >= before_draws + 3, "three redraws")
        for s in ("shardId-000000000000", "shardId-000000000001"):
            wait_value(f'#shard-table tr[data-shard="{s}"] .in-rps', lambda v: v > 0, f"{s} incoming records/s")
            wait_value(f'#shard-table tr[data-shard="{s}"] .in-bps', lambda v: v > 0, f"{s} incoming bytes/s")
        wait_value('#stream-table tr[data-stream="orders"] .in-rps', lambda v: v > 0, "the stream list's rate")
        shot("stream-live")
    finally:
        stop.set()
        t.join(10)
    check(not errors, errors)
    # Once the producer stopped, each shard's record count on the page is what the puts
    # were acknowledged on.
    for s, n in per_shard.items():
        wait_value(f'#shard-table tr[data-shard="{s}"] .records', lambda v, n=n: v == n, f"{s}: {n} records")
    wait_value("#total-in-rps", lambda v: v == 0, "the rate back to 0")
    state["per_shard"] = per_shard


@case("a reader's outgoing rate and iterator age show")
def _():
    shard = "shardId-000000000000"
    it = kinesis.get_shard_iterator(StreamName="orders", ShardId=shard, ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    r = kinesis.get_records(ShardIterator=it, Limit=10)
    check(len(r["Records"]) == 10, "10 records read")
    # The read shows in the outgoing series for one second: look at the page's history.
    key = f"orders/{shard}"
    until(lambda _: d.execute_script(
        "const h = window.freshetConsole.state.history.get(arguments[0]);"
        "return h && h.outRps.values.some((v) => v > 0) && h.outBps.values.some((v) => v > 0);", key),
        "outgoing records/s and bytes/s above 0")
    wait_value(f'#shard-table tr[data-shard="{shard}"] .age', lambda v: v == r["MillisBehindLatest"], f"iterator age {r['MillisBehindLatest']}")
    check(value(f'#shard-table tr[data-shard="{shard}"] .age') == r["MillisBehindLatest"], "MillisBehindLatest as GetRecords said")


@case("a split appears in the lineage tree")
def _():
    parent = "shardId-000000000000"
    shard = next(s for s in kinesis.list_shards(StreamName="orders")["Shards"] if s["ShardId"] == parent)
    lo, hi = int(shard["HashKeyRange"]["StartingHashKey"]), int(shard["HashKeyRange"]["EndingHashKey"])
    kinesis.split_shard(StreamName="orders", ShardToSplit=parent, NewStartingHashKey=str(lo + (hi - lo) // 2 + 1))
    kinesis.get_waiter("stream_exists").wait(StreamName="orders", WaiterConfig={"Delay": 0.2, "MaxAttempts": 100})
    _, shards = open_shards("orders")
    children = sorted(s["ShardId"] for s in shards if s.get("ParentShardId") == parent)
    check(len(children) == 2, f"ListShards shows two children: {children}")
    sel = f'#lineage li[data-shard="{parent}"] > ul > li'
    until(lambda _: sorted(li.get_attribute("data-shard") for li in css(sel)) == children, f"{children} under {parent}")
    check("closed" in one(f'#lineage li[data-shard="{parent}"]').get_attribute("class"), "the parent is closed")
    check(len(css("#lineage > ul.tree > li")) == 2, "still two roots")
    wait_value('#stream-table tr[data-stream="orders"] .open-shards', lambda v: v == 3, "3 open shards in the list")
    shot("lineage-after-split")


@case("an enhanced fan-out consumer and its live subscription show")
def _():
    arn = kinesis.describe_stream_summary(StreamName="orders")["StreamDescriptionSummary"]["StreamARN"]
    c = kinesis.register_stream_consumer(StreamARN=arn, ConsumerName="console-efo")["Consumer"]
    deadline = time.time() + WAIT
    while kinesis.describe_stream_consumer(ConsumerARN=c["ConsumerARN"])["ConsumerDescription"]["ConsumerStatus"] != "ACTIVE":
        check(time.time() < deadline, "consumer ACTIVE in time")
        time.sleep(0.1)
    until(lambda _: css('#consumer-table tr[data-consumer="console-efo"]'), "the consumer row")
    resp = kinesis.subscribe_to_shard(ConsumerARN=c["ConsumerARN"], ShardId="shardId-000000000001", StartingPosition={"Type": "TRIM_HORIZON"})
    events = iter(resp["EventStream"])
    next(events)
    try:
        wait_value('#consumer-table tr[data-consumer="console-efo"] .subscriptions', lambda v: v == 1, "one live subscription")
        check("shardId-000000000001" in one('#consumer-table tr[data-consumer="console-efo"]').text, "the subscribed shard")
        shot("efo")
    finally:
        resp["EventStream"].close()


@case("a KCL application's leases and lag show")
def _():
    shard = "shardId-000000000001"
    n = state["per_shard"][shard]
    it = kinesis.get_shard_iterator(StreamName="orders", ShardId=shard, ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    recs = kinesis.get_records(ShardIterator=it, Limit=10)["Records"]
    seq = recs[4]["SequenceNumber"]
    offset = int(seq) & ((1 << 64) - 1)
    lease = {"owner": "worker-1", "checkpoint": {"kind": "SEQUENCE", "sequence": seq, "sub_sequence": 0},
             "pending_checkpoint": None, "parents": [], "handoff_to": None, "owner_switches": 1, "heartbeat": 7}
    lease_action("PutLease", {"StreamName": "orders", "TableName": "console-app", "Key": shard,
                              "Value": base64.b64encode(json.dumps(lease).encode()).decode()})
    row = f'table.kcl-table[data-table="console-app"] tr[data-lease="{shard}"]'
    until(lambda _: css(row), "the lease row (the table learnt from the lease action)")
    check("worker-1" in one(f"{row} .owner").text, "the owner")
    check(seq in one(f"{row} .checkpoint").text, "the checkpoint")
    wait_value(f"{row} .lag", lambda v: v == n - 1 - offset, f"lag {n - 1 - offset}")
    shot("kcl")


@case("the record browser shows a record just put: text, JSON and hex")
def _():
    doc = {"hello": "world", "n": 7}
    put = kinesis.put_record(StreamName="events", PartitionKey="browse-key", Data=json.dumps(doc).encode())
    seq = put["SequenceNumber"]
    browse("events", put["ShardId"], "AT_SEQUENCE_NUMBER", seq)
    art = f'article[data-seq="{seq}"]'
    until(lambda _: css(art), "the record")
    view("text")
    check(one(f"{art} pre").text == json.dumps(doc), one(f"{art} pre").text)
    check("browse-key" in one(f"{art} .pk").text, "its partition key")
    shot("records-text")
    view("json")
    check(json.loads(one(f"{art} pre").text) == doc, "the JSON view parses back")
    check('\n  "hello": "world"' in one(f"{art} pre").text, "indented JSON")
    shot("records-json")
    view("hex")
    hexdump = one(f"{art} pre").text
    check(hexdump.startswith("00000000  7b 22 68 65"), hexdump[:40])
    shot("records-hex")
    view("text")


@case("a KPL aggregate is shown as its user records with sub-sequence numbers")
def _():
    from aws_kinesis_agg.aggregator import RecordAggregator

    agg = RecordAggregator()
    users = [("user-a", b"first user record", None), ("user-b", b'{"second": 2}', "12345"), ("user-a", b"third", None)]
    for pk, data, ehk in users:
        agg.add_user_record(pk, data, ehk)
    pk, ehk, data = agg.clear_and_get().get_contents()
    put = kinesis.put_record(StreamName="events", PartitionKey=pk, Data=data)
    browse("events", put["ShardId"], "AT_SEQUENCE_NUMBER", put["SequenceNumber"])
    art = f'article[data-seq="{put["SequenceNumber"]}"]'
    until(lambda _: css(art), "the aggregated record")
    check(one(art).get_attribute("data-aggregated") == "true", "taken apart")
    check("3 user records, MD5 ok" in one(f"{art} .agg").text, one(f"{art} .agg").text)
    items = css(f"{art} li[data-sub]")
    check([li.get_attribute("data-sub") for li in items] == ["0", "1", "2"], "sub-sequence numbers 0, 1, 2")
    for li, (upk, udata, uehk) in zip(items, users):
        check(li.find_element(By.CSS_SELECTOR, "pre").text == udata.decode(), f"user record {udata!r}")
        check(upk in li.text, f"partition key {upk}")
        if uehk:
            check(uehk in li.text, f"explicit hash key {uehk}")
    shot("records-kpl")
    # A blob with the magic and a broken digest is one plain record, flagged.
    broken = bytearray(data)
    broken[-1] ^= 1
    put = kinesis.put_record(StreamName="events", PartitionKey=pk, Data=bytes(broken))
    browse("events", put["ShardId"], "AT_SEQUENCE_NUMBER", put["SequenceNumber"])
    art = f'article[data-seq="{put["SequenceNumber"]}"]'
    until(lambda _: css(art), "the broken aggregate")
    check(one(art).get_attribute("data-aggregated") == "false", "not taken apart")
    check("MD5 does not match" in one(art).text, "the reason shows")


@case("the record browser pages forward and back")
def _():
    make_stream("paged", 1)
    seqs = []
    for i in range(25):
        seqs.append(kinesis.put_record(StreamName="paged", PartitionKey="p", Data=f"record {i}".encode())["SequenceNumber"])
    browse("paged", "shardId-000000000000", "TRIM_HORIZON", per_page="10")

    def page():
        return [a.get_attribute("data-seq") for a in css("#br-records article")]

    until(lambda _: page() == seqs[:10], "page 1")
    one("#br-next").click()
    until(lambda _: page() == seqs[10:20], "page 2")
    one("#br-next").click()
    until(lambda _: page() == seqs[20:], "page 3")
    check("page 3" in one("#br-status").text, one("#br-status").text)
    one("#br-prev").click()
    until(lambda _: page() == seqs[10:20], "page 2 again")
    one("#br-prev").click()
    until(lambda _: page() == seqs[:10], "page 1 again")
    check(one("#br-prev").get_attribute("disabled") is not None, "no page before the first")


@case("the Lambda panel lists a function and its mapping's last result")
def _():
    lam = aws("lambda")
    with open(os.path.join(HERE, "..", "functions", "python", "handler.py"), "rb") as f:
        code = f.read()
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("handler.py", code)
    lam.create_function(FunctionName="console-fn", Runtime="python3.12", Handler="handler.handler",
                        Role="arn:aws:iam::000000000000:role/r", Code={"ZipFile": buf.getvalue()}, Timeout=30)
    m = lam.create_event_source_mapping(FunctionName="console-fn", StartingPosition="TRIM_HORIZON", BatchSize=10,
                                        EventSourceArn="arn:aws:kinesis:us-east-1:000000000000:stream/events")
    deadline = time.time() + 60
    while True:
        got = lam.get_event_source_mapping(UUID=m["UUID"])
        if got.get("LastProcessingResult", "No records processed") not in ("No records processed", None) or time.time() > deadline:
            break
        time.sleep(0.2)
    tab("functions")
    until(lambda _: css('#function-table tr[data-function="console-fn"]'), "the function row")
    row = one('#function-table tr[data-function="console-fn"]')
    check("python3.12" in row.text and "handler.handler" in row.text, row.text)
    mrow = f'#mapping-table tr[data-mapping="{m["UUID"]}"]'
    until(lambda _: css(mrow), "the mapping row")
    want = lam.get_event_source_mapping(UUID=m["UUID"]).get("LastProcessingResult", "–")
    until(lambda _: one(f"{mrow} .last-result").text == want, f"last result {want!r}")
    check("console-fn" in one(mrow).text and "events" in one(mrow).text, one(mrow).text)
    shot("functions")


@case("the Firehose panel lists a delivery stream with its live figures")
def _():
    fh = aws("firehose")
    fh.create_delivery_stream(
        DeliveryStreamName="console-ds", DeliveryStreamType="DirectPut",
        ExtendedS3DestinationConfiguration={"RoleARN": "arn:aws:iam::000000000000:role/firehose",
                                            "BucketARN": "arn:aws:s3:::console-bucket",
                                            "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 0}})
    fh.put_record(DeliveryStreamName="console-ds", Record={"Data": b"delivered\n"})
    tab("delivery")
    row = '#delivery-table tr[data-delivery="console-ds"]'
    until(lambda _: css(row), "the delivery stream row")
    deadline = time.time() + WAIT
    while fh.describe_delivery_stream(DeliveryStreamName="console-ds")["DeliveryStreamDescription"]["DeliveryStreamStatus"] != "ACTIVE":
        check(time.time() < deadline, "delivery stream ACTIVE in time")
        time.sleep(0.1)
    until(lambda _: one(f"{row} .status").text == "ACTIVE", "ACTIVE on the page")
    check("console-bucket" in one(row).text, "the destination")
    wait_value(f"{row} .records", lambda v: v >= 1, "a record delivered (live)")
    check(value(f"{row} .freshness") is not None, "a freshness figure")
    shot("delivery")


def metric(prefix):
    """The sum of the /metrics series whose line starts with `prefix`."""
    with urllib.request.urlopen(ENDPOINT + "/metrics", timeout=10) as r:
        text = r.read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(prefix))


@case("a hidden tab stops its live stream and its polls, and resumes when shown")
def _():
    tab("streams")
    until(lambda _: metric("freshet_console_live_subscribers") == 1, "one live subscriber")
    first = d.current_window_handle
    d.switch_to.new_window("tab")
    d.get("about:blank")
    until(lambda _: metric("freshet_console_live_subscribers") == 0, "the hidden tab's live stream to end")
    before = metric('freshet_requests_total{service="kinesis"')
    time.sleep(5)  # longer than the page's 2 s and 5 s polls
    check(metric('freshet_requests_total{service="kinesis"') == before, "no API requests from a hidden tab")
    d.close()
    d.switch_to.window(first)
    until(lambda _: metric("freshet_console_live_subscribers") == 1, "the live stream back")
    until(lambda _: metric('freshet_requests_total{service="kinesis"') > before, "the polls back")


@case("no console errors, no API errors at the end")
def _():
    tab("streams")
    until(lambda _: css("#shard-table tbody tr"), "the streams tab again")
    check(one("#error").text == "", f"no API errors: {one('#error').text}")
    check(console_errors() == [], "no console errors")
    requests = d.execute_script("return window.freshetConsole.api.requests")
    print(f"     the page made {requests} API requests in {time.time() - t_start:.0f}s")


d.quit()
print(f"console checks took {time.time() - t_start:.1f}s")
cases.finish()
