"""The Python binding against meter-sandbox: all three marketplaces, every
result accessor, errors, exact quantities, allocations, logging without
secrets. Run by ctest (test_python_binding), or by hand:

    METER_SANDBOX=build/x/tools/sandbox/meter-sandbox LIBMETER_PATH=build/x/src/libmeter.so \
        python3 -m unittest discover -s bindings/python/tests -t bindings/python
"""

import datetime
import decimal
import glob
import json
import os
import subprocess
import sys
import threading
import time
import unittest
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

import libmeter  # noqa: E402
from libmeter import Field, Outcome, Status  # noqa: E402

TACKLE = {"client_id": "sandbox-tackle-id", "client_secret": "sandbox-tackle-secret"}
APPDIRECT = {"client_id": "sandbox-appdirect-id", "client_secret": "sandbox-appdirect-secret"}
AWS = {"access_key_id": "AKIDSANDBOXEXAMPLE", "secret_access_key": "sandbox+secret/KEY/EXAMPLE",
       "region": "us-east-1"}
SECRETS = ["sandbox-tackle-secret", "sandbox-appdirect-secret", "sandbox+secret/KEY/EXAMPLE"]
FAST = {"backoff_base_ms": 1, "backoff_max_ms": 5, "request_timeout_ms": 5000}


def sandbox_binary():
    env = os.environ.get("METER_SANDBOX")
    if env:
        return env
    root = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
    found = sorted(glob.glob(os.path.join(root, "build", "*", "tools", "sandbox", "meter-sandbox")),
                   key=os.path.getmtime, reverse=True)
    return found[0] if found else None


class Sandbox:
    def __init__(self):
        binary = sandbox_binary()
        if not binary or not os.access(binary, os.X_OK):
            raise unittest.SkipTest("meter-sandbox not built")
        self.proc = subprocess.Popen([binary, "--port", "0"], stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL)
        line = self.proc.stdout.readline().decode()
        if "http://" not in line:
            self.stop()
            raise RuntimeError("unexpected first line from the sandbox: %r" % line)
        self.url = line[line.index("http://"):].strip()

    def request(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read() or b"null")

    def ledger(self):
        return self.request("GET", "/_sandbox/ledger")

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()


def a_minute_ago():
    return datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=1)


class LibraryTest(unittest.TestCase):
    """What needs no marketplace."""

    def test_version_and_statuses(self):
        self.assertRegex(libmeter.version(), r"^\d+\.\d+\.\d+$")
        major, minor, patch = (int(x) for x in libmeter.version().split("."))
        self.assertEqual(libmeter.version_number(), major * 10000 + minor * 100 + patch)
        self.assertEqual(libmeter.status_name(Status.EAUTH), "METER_EAUTH")
        self.assertTrue(libmeter.strerror(Status.EAUTH))
        self.assertEqual(libmeter.strerror(9999), "unknown status")
        self.assertEqual(libmeter.field_name(Field.END_TIME), "end_time")
        self.assertEqual(libmeter.field_from_name("--end-time"), Field.END_TIME)
        self.assertIsNone(libmeter.field_from_name("colour"))

    def test_record_fields_and_errors(self):
        with libmeter.Record(product="p1", customer="c1", quantity="0012.50") as r:
            self.assertEqual(r["quantity"], "12.5")  # canonical and exact
            self.assertRegex(r.idempotency_key, r"^[0-9a-f-]{36}$")
            r["quantity"] = decimal.Decimal("123456789.123456789")
            self.assertEqual(r[Field.QUANTITY], "123456789.123456789")
            r["quantity"] = 7
            self.assertEqual(r["quantity"], "7")
            with self.assertRaises(TypeError):
                r["quantity"] = 0.1
            with self.assertRaises(libmeter.MeterError) as cm:
                r["quantity"] = "-3"
            self.assertEqual(cm.exception.status, Status.EINVAL)
            self.assertIn("quantity", cm.exception.message)
            with self.assertRaises(libmeter.MeterError):
                r["time"] = "yesterday"
            with self.assertRaises(KeyError):
                r["colour"] = "red"
            t = datetime.datetime(2026, 1, 1, 10, 0, tzinfo=datetime.timezone.utc)
            r["time"] = t
            self.assertEqual(r.time_us, 1767261600 * 1000000)
            self.assertTrue(r["time"].startswith("2026-01-01T10:00:00"))
            r.add_allocation(4, {"team": "red"}).add_allocation(3, {})
            self.assertEqual(r.allocation_count, 2)
            r.set_attribute("k", "v")
            dup = r.copy()
            self.assertEqual(dup.idempotency_key, r.idempotency_key)
            dup.close()
            dup.close()  # idempotent
            with self.assertRaises(ValueError):
                dup["product"]

    def test_client_errors(self):
        with self.assertRaises(libmeter.MeterError) as cm:
            libmeter.Client("nosuch")
        self.assertEqual(cm.exception.status, Status.ECONFIG)
        self.assertIn("nosuch", cm.exception.message)
        with self.assertRaises(libmeter.MeterError) as cm:
            libmeter.Client("appdirect", settings={"client_id": "x"})
        self.assertEqual(cm.exception.status, Status.ECONFIG)
        self.assertIn("client_secret", cm.exception.message)
        with self.assertRaises(libmeter.MeterError) as cm:
            libmeter.Client("tackle", settings={"colour": "red"})
        self.assertIn("colour", cm.exception.message)
        with self.assertRaises(TypeError):
            libmeter.Client("tackle", settings=TACKLE, colour=1)


class SandboxTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.sb = Sandbox()

    @classmethod
    def tearDownClass(cls):
        cls.sb.stop()

    def setUp(self):
        self.sb.request("POST", "/_sandbox/reset", {})
        self.logs = []
        self.log_lock = threading.Lock()

    def log(self, level, message):
        with self.log_lock:
            self.logs.append((level, message))

    def client(self, backend, settings, **options):
        opts = dict(FAST)
        opts.update(options)
        return libmeter.Client(backend, endpoint=self.sb.url, settings=settings, log=self.log,
                               log_level=libmeter.LogLevel.DEBUG, **opts)

    def assertNoSecretLogged(self):
        for _, message in self.logs:
            for s in SECRETS:
                self.assertNotIn(s, message)

    def test_tackle(self):
        with self.client("tackle", TACKLE) as c:
            self.assertEqual(c.backend, "tackle")
            recs = [libmeter.Record(product="p1", customer="c%d" % i, dimension="users",
                                    quantity=i + 1, time=a_minute_ago()) for i in range(3)]
            recs.append(libmeter.Record(product="p1", customer="unknown-1", dimension="users",
                                        quantity=1, time=a_minute_ago()))
            res = c.send(recs)
            self.assertEqual(res.status, Status.EREJECTED)
            self.assertEqual(len(res), 4)
            for i in range(3):
                r = res[i]
                self.assertEqual(r.outcome, Outcome.ACCEPTED)
                self.assertTrue(r.delivered)
                self.assertEqual(r.http_status, 200)
                # One request, or two when Tackle refused the whole request for
                # the unknown customer and the others were resent without it.
                self.assertIn(r.attempts, (1, 2))
                self.assertEqual(r.status, "idle")
                self.assertTrue(r.record_id)
                self.assertEqual(r.idempotency_key, recs[i].idempotency_key)
                self.assertIsNone(r.error_code)
            bad = res[3]
            self.assertEqual(bad.outcome, Outcome.REJECTED)
            self.assertFalse(bad.delivered)
            self.assertEqual(bad.http_status, 404)
            self.assertEqual(bad.error_code, "not_found")
            self.assertTrue(bad.message)
            status, message = c.last_error()
            self.assertEqual(status, Status.EREJECTED)
            self.assertIn("unknown-1", message)
            for r in recs:
                r.close()
        ledger = self.sb.ledger()["tackle"]
        self.assertEqual(sorted(e["customer"] for e in ledger), ["c0", "c1", "c2"])
        self.assertEqual(sum(e["quantity"] for e in ledger), 6)
        self.assertNoSecretLogged()

    def test_appdirect(self):
        with self.client("appdirect", APPDIRECT) as c:
            rec = libmeter.Record(account="acc-1", pricing_unit="USER",
                                  quantity=decimal.Decimal("123456789.123456789"),
                                  attributes={"team": "red"})
            res = c.send([rec])
            self.assertTrue(res.ok, res)
            r = res[0]
            self.assertEqual(r.outcome, Outcome.ACCEPTED)
            self.assertEqual(r.http_status, 202)
            self.assertEqual(r.status, "PROCESSING")
            self.assertTrue(r.request_id)
            self.assertTrue(r.status_path.endswith(r.request_id))
            # Resending the same record is recognised, not billed twice.
            again = c.send([rec])
            self.assertTrue(again.ok)
            self.assertEqual(again[0].outcome, Outcome.DUPLICATE)
            invalid = c.validate([libmeter.Record(pricing_unit="USER", quantity=1)])
            self.assertEqual(invalid.status, Status.EINVAL)
            self.assertEqual(invalid[0].outcome, Outcome.INVALID)
            self.assertEqual(invalid[0].field, "account")
        ledger = self.sb.ledger()["appdirect"]
        self.assertEqual(len(ledger), 1)
        self.assertEqual(ledger[0]["quantity"], "123456789.123456789")
        self.assertNoSecretLogged()

    def test_aws(self):
        with self.client("aws", AWS) as c:
            rec = libmeter.Record(product="prodA", customer="custA", dimension="gb", quantity=12,
                                  time=a_minute_ago(),
                                  allocations=[(8, {"team": "red"}), (4, {"team": "blue"})])
            unsub = libmeter.Record(product="prodA", customer="unsubscribed-1", dimension="gb",
                                    quantity=1, time=a_minute_ago())
            res = c.send([rec, unsub])
            self.assertEqual(res.status, Status.EREJECTED)
            self.assertEqual(res[0].outcome, Outcome.ACCEPTED)
            self.assertEqual(res[0].status, "Success")
            self.assertTrue(res[0].request_id)
            self.assertEqual(res[1].outcome, Outcome.REJECTED)
            self.assertEqual(res[1].error_code, "CustomerNotSubscribed")
        ledger = self.sb.ledger()["aws"]
        self.assertEqual(len(ledger), 1)
        self.assertEqual(ledger[0]["quantity"], 12)
        self.assertNoSecretLogged()

    def test_transient_failure_then_resend(self):
        self.sb.request("POST", "/_sandbox/faults", {"route": "aws.BatchMeterUsage",
                                                     "kind": "error503"})
        with self.client("aws", AWS, max_attempts=2) as c:
            rec = libmeter.Record(product="prodA", customer="custB", dimension="gb", quantity=5,
                                  time=a_minute_ago())
            res = c.send([rec])
            self.assertEqual(res.status, Status.EUNDELIVERED)
            self.assertEqual(res[0].outcome, Outcome.FAILED)
            self.assertEqual(res[0].attempts, 2)
            self.sb.request("DELETE", "/_sandbox/faults")
            res = c.send([rec])  # the same record: the same key
            self.assertTrue(res.ok)
        self.assertEqual(len(self.sb.ledger()["aws"]), 1)
        self.assertTrue(any("503" in m or "retry" in m.lower() for _, m in self.logs), self.logs)

    def test_bad_credentials(self):
        with self.client("tackle", {"client_id": "sandbox-tackle-id",
                                    "client_secret": "wrong-secret-123"}) as c:
            res = c.send([libmeter.Record(product="p", customer="c", dimension="d", quantity=1)])
            self.assertEqual(res.status, Status.EAUTH)
            self.assertEqual(res[0].outcome, Outcome.FAILED)
        for _, m in self.logs:
            self.assertNotIn("wrong-secret-123", m)

    def test_threads_share_a_client(self):
        with self.client("tackle", TACKLE) as c:
            errors = []

            def work(n):
                try:
                    recs = [libmeter.Record(product="p", customer="t%d-%d" % (n, i),
                                            dimension="d", quantity=1, time=a_minute_ago())
                            for i in range(5)]
                    if not c.send(recs).ok:
                        errors.append(n)
                except Exception as e:  # pragma: no cover
                    errors.append(e)

            threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            self.assertEqual(errors, [])
        self.assertEqual(len(self.sb.ledger()["tackle"]), 20)


if __name__ == "__main__":
    unittest.main()
