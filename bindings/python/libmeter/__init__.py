"""libmeter for Python: report usage to Tackle, AppDirect and AWS Marketplace.

A thin ctypes binding over libmeter's public C ABI (include/meter.h)::

    import libmeter

    with libmeter.Client("tackle", settings={"client_id": "...", "client_secret": "..."}) as c:
        rec = libmeter.Record(product="p1", customer="c1", dimension="users", quantity=3)
        results = c.send([rec])
        print(results.status_name, results[0].outcome.name, results[0].record_id)

The shared library is found through $LIBMETER_PATH (a file), else a build
tree next to this package (build/*/src/libmeter.so), else the system
(ldconfig / LD_LIBRARY_PATH).

Ownership is simple by design: every handle (client, record) belongs to one
Python object and is freed by close() (or the with-block, or the garbage
collector); results are copied into Python objects at once and the C handle
is freed, so nothing returned by this module points into C memory.
"""

import ctypes
import ctypes.util
import datetime
import decimal
import enum
import glob
import os
import threading

__all__ = [
    "Client", "Record", "Result", "Results", "MeterError", "Status", "Outcome", "Field",
    "LogLevel", "version", "version_number", "strerror", "status_name", "field_name",
    "field_from_name", "library_path",
]

# ---- loading -------------------------------------------------------------


def _candidates():
    env = os.environ.get("LIBMETER_PATH")
    if env:
        yield env
        return
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.abspath(os.path.join(here, "..", "..", ".."))
    builds = glob.glob(os.path.join(root, "build", "*", "src", "libmeter.so"))
    for path in sorted(builds, key=os.path.getmtime, reverse=True):
        yield path
    found = ctypes.util.find_library("meter")
    if found:
        yield found
    yield "libmeter.so.0"


def _load():
    errors = []
    for path in _candidates():
        try:
            return ctypes.CDLL(path), path
        except OSError as e:
            errors.append("%s: %s" % (path, e))
    raise ImportError("libmeter shared library not found (set LIBMETER_PATH): " + "; ".join(errors))


_lib, library_path = _load()

# ---- enums ---------------------------------------------------------------


class Status(enum.IntEnum):
    OK = 0
    EINVAL = 1
    ENOMEM = 2
    EVERSION = 3
    ECONFIG = 4
    EAUTH = 5
    ETRANSPORT = 6
    ETIMEOUT = 7
    EPROTOCOL = 8
    EREJECTED = 9
    EUNDELIVERED = 10
    ENOTFOUND = 11
    ECONFLICT = 12
    EUNSUPPORTED = 13
    ETHROTTLED = 14
    EFULL = 15
    ESTORE = 16
    ECLOSED = 17
    EINTERNAL = 18


class Outcome(enum.IntEnum):
    PENDING = 0
    ACCEPTED = 1
    DUPLICATE = 2
    REJECTED = 3
    FAILED = 4
    INVALID = 5
    CONFLICT = 6


class Field(enum.IntEnum):
    PRODUCT = 1
    CUSTOMER = 2
    DIMENSION = 3
    QUANTITY = 4
    TIME = 5
    END_TIME = 6
    IDEMPOTENCY_KEY = 7
    TEST = 8
    DRY_RUN = 9
    CLOUD = 10
    METHOD = 11
    SUBSCRIPTION_ID = 12
    SCHEDULED_AT = 13
    CONSUMER_ID = 14
    CUSTOMER_ACCOUNT_ID = 15
    LICENSE_ARN = 16
    ACCOUNT = 17
    PRICING_UNIT = 18
    CUSTOM_UNIT = 19
    PRICE = 20
    CURRENCY = 21
    DESCRIPTION = 22
    PRICING_MODEL = 23


class LogLevel(enum.IntEnum):
    ERROR = 1
    WARN = 2
    INFO = 3
    DEBUG = 4


# ---- the C declarations ----------------------------------------------------

_c_char_p = ctypes.c_char_p
_c_void_p = ctypes.c_void_p
_LOG_FN = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p)

CLIENT_OPTIONS_VERSION = 1
ERROR_MESSAGE_SIZE = 256


class _Setting(ctypes.Structure):
    _fields_ = [("name", _c_char_p), ("value", _c_char_p)]


class _ClientOptions(ctypes.Structure):
    """meter_client_options, version 1 (include/meter/client.h)."""
    _fields_ = [
        ("version", ctypes.c_uint),
        ("backend", _c_char_p),
        ("endpoint", _c_char_p),
        ("settings", ctypes.POINTER(_Setting)),
        ("settings_count", ctypes.c_size_t),
        ("connect_timeout_ms", ctypes.c_long),
        ("request_timeout_ms", ctypes.c_long),
        ("max_attempts", ctypes.c_uint),
        ("backoff_base_ms", ctypes.c_long),
        ("backoff_max_ms", ctypes.c_long),
        ("deadline_ms", ctypes.c_long),
        ("retry_budget", ctypes.c_int),
        ("insecure_skip_verify", ctypes.c_int),
        ("ca_bundle", _c_char_p),
        ("user_agent_suffix", _c_char_p),
        ("max_response_bytes", ctypes.c_size_t),
        ("log", _LOG_FN),
        ("log_payload", _c_void_p),
        ("log_level", ctypes.c_int),
    ]


class _Error(ctypes.Structure):
    _fields_ = [("status", ctypes.c_int), ("message", ctypes.c_char * ERROR_MESSAGE_SIZE)]


def _fn(name, restype, *argtypes):
    f = getattr(_lib, name)
    f.restype = restype
    f.argtypes = list(argtypes)
    return f


_P = ctypes.c_void_p  # opaque handles
_PP = ctypes.POINTER(ctypes.c_void_p)

_version = _fn("meter_version", _c_char_p)
_version_number = _fn("meter_version_number", ctypes.c_int)
_strerror = _fn("meter_strerror", _c_char_p, ctypes.c_int)
_status_name = _fn("meter_status_name", _c_char_p, ctypes.c_int)
_field_name = _fn("meter_field_name", _c_char_p, ctypes.c_int)
_field_from_name = _fn("meter_field_from_name", ctypes.c_int, _c_char_p)
_outcome_name = _fn("meter_outcome_name", _c_char_p, ctypes.c_int)
_outcome_delivered = _fn("meter_outcome_delivered", ctypes.c_int, ctypes.c_int)

_options_init = _fn("meter_client_options_init", ctypes.c_int, ctypes.POINTER(_ClientOptions),
                    ctypes.c_uint)
_client_new = _fn("meter_client_new", ctypes.c_int, _PP, ctypes.POINTER(_ClientOptions),
                  ctypes.POINTER(_Error))
_client_free = _fn("meter_client_free", None, _P)
_client_backend = _fn("meter_client_backend", _c_char_p, _P)
_client_last_error = _fn("meter_client_last_error", ctypes.c_int, _P, ctypes.c_char_p,
                         ctypes.c_size_t)

_record_new = _fn("meter_record_new", ctypes.c_int, _PP)
_record_dup = _fn("meter_record_dup", ctypes.c_int, _PP, _P)
_record_free = _fn("meter_record_free", None, _P)
_record_setn = _fn("meter_record_setn", ctypes.c_int, _P, ctypes.c_int, _c_char_p, ctypes.c_size_t)
_record_get = _fn("meter_record_get", _c_char_p, _P, ctypes.c_int)
_record_set_quantity = _fn("meter_record_set_quantity", ctypes.c_int, _P, ctypes.c_int64)
_record_set_time_us = _fn("meter_record_set_time_us", ctypes.c_int, _P, ctypes.c_int64)
_record_time_us = _fn("meter_record_time_us", ctypes.c_int64, _P)
_record_add_allocation = _fn("meter_record_add_allocation", ctypes.c_int, _P, ctypes.c_int64,
                             ctypes.POINTER(_c_char_p), ctypes.POINTER(_c_char_p), ctypes.c_size_t)
_record_allocation_count = _fn("meter_record_allocation_count", ctypes.c_size_t, _P)
_record_errmsg = _fn("meter_record_errmsg", _c_char_p, _P)
_record_set_attribute = _fn("meter_record_set_attribute", ctypes.c_int, _P, _c_char_p, _c_char_p)

_send = _fn("meter_send", ctypes.c_int, _P, _PP, ctypes.c_size_t, _PP)
_validate = _fn("meter_validate", ctypes.c_int, _P, _PP, ctypes.c_size_t, _PP)

_results_count = _fn("meter_results_count", ctypes.c_size_t, _P)
_results_outcome = _fn("meter_results_outcome", ctypes.c_int, _P, ctypes.c_size_t)
_results_str = {
    name: _fn("meter_results_" + name, _c_char_p, _P, ctypes.c_size_t)
    for name in ("record_id", "status", "error_code", "message", "field", "idempotency_key",
                 "request_id", "status_path")
}
_results_http_status = _fn("meter_results_http_status", ctypes.c_int, _P, ctypes.c_size_t)
_results_attempts = _fn("meter_results_attempts", ctypes.c_uint, _P, ctypes.c_size_t)
_results_free = _fn("meter_results_free", None, _P)


def _s(b):
    return None if b is None else b.decode("utf-8", "replace")


def _b(s):
    if s is None:
        return None
    if isinstance(s, bytes):
        return s
    return str(s).encode("utf-8")


# ---- module functions ----------------------------------------------------


def version():
    """The linked library's version, "MAJOR.MINOR.PATCH"."""
    return _s(_version())


def version_number():
    """MAJOR * 10000 + MINOR * 100 + PATCH of the linked library."""
    return _version_number()


def strerror(status):
    """A description of a status code (never None)."""
    return _s(_strerror(int(status)))


def status_name(status):
    """The symbolic name of a status ("METER_EAUTH")."""
    return _s(_status_name(int(status)))


def field_name(field):
    """The name of a record field ("end_time"), or None."""
    return _s(_field_name(int(field)))


def field_from_name(name):
    """The Field of a name ("end_time" or "--end-time"), or None."""
    f = _field_from_name(_b(name))
    return Field(f) if f else None


class MeterError(Exception):
    """A libmeter error: .status (a Status), .message (never a secret)."""

    def __init__(self, status, message=None):
        self.status = Status(status) if status in Status._value2member_map_ else status
        self.message = message or strerror(status)
        super().__init__("%s: %s" % (status_name(status), self.message))


def _check(rc, message=None):
    if rc != Status.OK:
        raise MeterError(rc, message)


# ---- records -------------------------------------------------------------


def _field_of(key):
    if isinstance(key, Field):
        return key
    if isinstance(key, int):
        return Field(key)
    f = field_from_name(key)
    if f is None:
        raise KeyError("unknown record field %r" % (key,))
    return f


def _us_of(value):
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            raise ValueError("time: give an aware datetime (UTC), not a naive one")
        epoch = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
        delta = value - epoch
        return (delta.days * 86400 + delta.seconds) * 1000000 + delta.microseconds
    return None


class Record:
    """A usage record. Keyword arguments set fields by name::

        Record(product="p1", customer="c1", dimension="users", quantity=3,
               time=datetime.datetime.now(datetime.timezone.utc))

    A new record has a fresh UUIDv4 idempotency key and the current time.
    Quantities are exact: give an int, a str or a decimal.Decimal (a float is
    refused, since it may not be the number you meant).
    """

    def __init__(self, **fields):
        h = ctypes.c_void_p()
        _check(_record_new(ctypes.byref(h)))
        self._h = h
        try:
            for key, value in fields.items():
                if key in ("allocations", "allocation"):
                    for qty, tags in value:
                        self.add_allocation(qty, tags)
                elif key in ("attributes", "attribute"):
                    for k, v in value.items():
                        self.set_attribute(k, v)
                else:
                    self[key] = value
        except Exception:
            self.close()
            raise

    def _handle(self):
        if not self._h:
            raise ValueError("the record is closed")
        return self._h

    def __setitem__(self, key, value):
        f = _field_of(key)
        if f in (Field.QUANTITY, Field.PRICE):
            if isinstance(value, float):
                raise TypeError("%s: pass an int, str or Decimal (a float is not exact)"
                                % field_name(f))
            if isinstance(value, decimal.Decimal):
                value = format(value, "f")
        elif f in (Field.TIME, Field.END_TIME, Field.SCHEDULED_AT):
            us = _us_of(value)
            if us is not None and f == Field.TIME:
                _check(_record_set_time_us(self._handle(), us), _s(_record_errmsg(self._h)))
                return
            if us is not None:
                value = value.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        elif isinstance(value, bool):
            value = "true" if value else "false"
        raw = _b(value)
        rc = _record_setn(self._handle(), int(f), raw, 0 if raw is None else len(raw))
        _check(rc, _s(_record_errmsg(self._h)))

    def __getitem__(self, key):
        return _s(_record_get(self._handle(), int(_field_of(key))))

    def set(self, key, value):
        self[key] = value
        return self

    def get(self, key):
        return self[key]

    @property
    def idempotency_key(self):
        return self[Field.IDEMPOTENCY_KEY]

    @property
    def time_us(self):
        return _record_time_us(self._handle())

    def add_allocation(self, quantity, tags=None):
        """Adds a usage allocation: `quantity` units carrying `tags` (a dict)."""
        tags = dict(tags or {})
        n = len(tags)
        keys = (_c_char_p * max(n, 1))(*[_b(k) for k in tags.keys()])
        values = (_c_char_p * max(n, 1))(*[_b(v) for v in tags.values()])
        rc = _record_add_allocation(self._handle(), int(quantity), keys, values, n)
        _check(rc, _s(_record_errmsg(self._h)))
        return self

    @property
    def allocation_count(self):
        return _record_allocation_count(self._handle())

    def set_attribute(self, key, value):
        """Adds or replaces a free-form attribute (AppDirect `attributes`)."""
        rc = _record_set_attribute(self._handle(), _b(key), _b(value))
        _check(rc, _s(_record_errmsg(self._h)) or "attribute: invalid key or value")
        return self

    def copy(self):
        """A deep copy, with the same idempotency key."""
        other = Record.__new__(Record)
        h = ctypes.c_void_p()
        _check(_record_dup(ctypes.byref(h), self._handle()))
        other._h = h
        return other

    def close(self):
        if getattr(self, "_h", None):
            _record_free(self._h)
            self._h = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        self.close()

    def __repr__(self):
        if not getattr(self, "_h", None):
            return "<libmeter.Record closed>"
        shown = {f.name.lower(): self[f] for f in Field if self[f] is not None}
        return "<libmeter.Record %r>" % (shown,)


# ---- results -------------------------------------------------------------


class Result:
    """One record's result (copied out of the library: plain Python values)."""

    __slots__ = ("index", "outcome", "delivered", "record_id", "status", "http_status",
                 "error_code", "message", "field", "attempts", "idempotency_key", "request_id",
                 "status_path")

    def __init__(self, handle, i):
        self.index = i
        oc = _results_outcome(handle, i)
        self.outcome = Outcome(oc) if oc in Outcome._value2member_map_ else oc
        self.delivered = bool(_outcome_delivered(oc))
        for name, f in _results_str.items():
            setattr(self, name, _s(f(handle, i)))
        self.http_status = _results_http_status(handle, i)
        self.attempts = _results_attempts(handle, i)

    def as_dict(self):
        d = {name: getattr(self, name) for name in self.__slots__}
        d["outcome"] = _s(_outcome_name(int(self.outcome)))
        return d

    def __repr__(self):
        return "<libmeter.Result %s>" % (self.as_dict(),)


class Results(list):
    """The results of one send/validate, in record order; .status is what the
    C call returned (Status.OK when every record was delivered)."""

    def __init__(self, status, items):
        super().__init__(items)
        self.status = Status(status) if status in Status._value2member_map_ else status

    @property
    def status_name(self):
        return status_name(self.status)

    @property
    def ok(self):
        return self.status == Status.OK


# ---- the client ----------------------------------------------------------


class Client:
    """A client of one marketplace back end ("tackle", "appdirect", "aws").

    settings: a dict of back-end settings by name ({"client_id": ...});
    options: the fields of meter_client_options (max_attempts,
    backoff_base_ms, backoff_max_ms, deadline_ms, connect_timeout_ms,
    request_timeout_ms, retry_budget, insecure_skip_verify, ca_bundle,
    user_agent_suffix, max_response_bytes); log: a callable(level, message)
    receiving the library's log lines (secrets already redacted), called from
    whichever thread did the work; log_level: a LogLevel.

    Safe to share between threads; the GIL is released while the library
    works (ctypes does that for every call).
    """

    _OPTION_NAMES = ("connect_timeout_ms", "request_timeout_ms", "max_attempts",
                     "backoff_base_ms", "backoff_max_ms", "deadline_ms", "retry_budget",
                     "insecure_skip_verify", "max_response_bytes")

    def __init__(self, backend, endpoint=None, settings=None, log=None,
                 log_level=LogLevel.INFO, ca_bundle=None, user_agent_suffix=None, **options):
        o = _ClientOptions()
        _check(_options_init(ctypes.byref(o), CLIENT_OPTIONS_VERSION))
        # Keep every buffer alive until meter_client_new has copied it.
        keep = []
        o.backend = _b(backend)
        o.endpoint = _b(endpoint)
        items = list((settings or {}).items())
        arr = (_Setting * max(len(items), 1))()
        for i, (k, v) in enumerate(items):
            arr[i].name = _b(k)
            arr[i].value = _b(v)
        keep.append(arr)
        o.settings = ctypes.cast(arr, ctypes.POINTER(_Setting))
        o.settings_count = len(items)
        o.ca_bundle = _b(ca_bundle)
        o.user_agent_suffix = _b(user_agent_suffix)
        for name, value in options.items():
            if name not in self._OPTION_NAMES:
                raise TypeError("unknown client option %r" % (name,))
            setattr(o, name, int(value))
        self._log_cb = None
        if log is not None:
            def trampoline(level, message, payload, _log=log):
                try:
                    _log(LogLevel(level) if level in LogLevel._value2member_map_ else level,
                         _s(message))
                except Exception:  # never let an exception unwind into C
                    pass
            # The C side keeps the pointer for the client's lifetime: so do we.
            self._log_cb = _LOG_FN(trampoline)
            o.log = self._log_cb
            o.log_level = int(log_level)
        h = ctypes.c_void_p()
        err = _Error()
        rc = _client_new(ctypes.byref(h), ctypes.byref(o), ctypes.byref(err))
        if rc != Status.OK:
            raise MeterError(rc, _s(err.message))
        self._h = h

    def _handle(self):
        if not getattr(self, "_h", None):
            raise ValueError("the client is closed")
        return self._h

    @property
    def backend(self):
        return _s(_client_backend(self._handle()))

    def last_error(self):
        """(status, message) of the most recent error on this client."""
        buf = ctypes.create_string_buffer(ERROR_MESSAGE_SIZE)
        st = _client_last_error(self._handle(), buf, len(buf))
        return Status(st) if st in Status._value2member_map_ else st, _s(buf.value)

    def _run(self, fn, records):
        records = list(records)
        for r in records:
            if not isinstance(r, Record):
                raise TypeError("records must be libmeter.Record objects")
        arr = (ctypes.c_void_p * max(len(records), 1))(*[r._handle() for r in records])
        out = ctypes.c_void_p()
        rc = fn(self._handle(), arr, len(records), ctypes.byref(out))
        if not out:
            raise MeterError(rc, self.last_error()[1])
        try:
            items = [Result(out, i) for i in range(_results_count(out))]
        finally:
            _results_free(out)
        return Results(rc, items)

    def send(self, records):
        """Sends the records (a list of Record) and returns their Results.
        Results.status says whether all were delivered; each Result says what
        happened to its record. Raises MeterError only when there are no
        results at all (bad arguments, out of memory)."""
        return self._run(_send, records)

    def validate(self, records):
        """Checks the records with the back end's rules; sends nothing."""
        return self._run(_validate, records)

    def close(self):
        if getattr(self, "_h", None):
            _client_free(self._h)
            self._h = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        self.close()
