"""Admission rules and the settings sources (flags, environment, config file)."""

from __future__ import annotations

import argparse
import math
import random
from pathlib import Path

import pytest

from intentd.protogen import import_stubs
from intentd.server.admission import admit
from intentd.server.config import ConfigError, Settings, add_arguments, cgroup_cpu_quota, usable_cores
from intentd.server.errors import InvalidRequest
from intentd.server.metrics import ROLLING_MIN, RollingRate
from intentd.server.planner import (FIXED_TOKENS, INLINE_MAX_ARRIVALS, MIN_SHARE, RATE_WINDOW_S, ROW_FIXED_TOKENS,
                                    LATE_PAUSE_S, SHARE_RECOVERY_S, TARGET_MISS, AdmitShare, ArrivalRate,
                                    BatchTimeModel, BURST_PASSES, BURST_WINDOW_S)

pb2, _ = import_stubs()
LIMITS = dict(max_chars=20, default_top_k=5, max_top_k=50)


def test_the_slots_the_last_answer_asked_are_kept_in_order_and_checked():
    def options(*names):
        return admit(pb2.AnalyzeRequest(text="5", context=pb2.RequestContext(previous_intent="x", slots_missing=names)),
                     **LIMITS)[1]

    assert options("date", "account", "date").slots_missing == ("date", "account")  # the text asks the first
    assert options().slots_missing == ()
    with pytest.raises(InvalidRequest, match="context.slots_missing: a slot name is empty"):
        options("date", "")
    with pytest.raises(InvalidRequest, match="context.slots_missing: 65 items is over 64"):
        options(*(f"s{i}" for i in range(65)))
    with pytest.raises(InvalidRequest, match="context.slots_missing: longer than 256 characters"):
        options("d" * 257)


def test_admit_builds_options():
    req = pb2.AnalyzeRequest(text="hi\x00\x07 there", top_k=0, time_zone="Asia/Tokyo", locale="en_GB",
                             context=pb2.RequestContext(filled_slots={"b": "2", "a": "1"}, previous_intent="x"))
    req.reference_time.FromJsonString("2025-01-01T00:00:00Z")
    text, opts = admit(req, **LIMITS)
    assert text == "hi\x00\x07 there"  # control characters are fine
    assert opts.top_k == 5 and opts.time_zone == "Asia/Tokyo" and opts.locale == "en-GB"
    assert opts.filled_slots == (("a", "1"), ("b", "2")) and opts.previous_intent == "x"
    assert opts.reference_time.year == 2025 and opts.reference_time.tzinfo is not None
    _, opts = admit(pb2.DetectIntentRequest(text="hello", top_k=3), **LIMITS)
    assert opts.top_k == 3 and opts.time_zone is None and opts.reference_time is None
    # a follow-up may depend on its dates ("make it today at 9am" said at noon): DetectIntent reads them too
    detect = pb2.DetectIntentRequest(text="make it today at 9am", time_zone="Asia/Tokyo")
    detect.reference_time.FromJsonString("2025-01-01T00:00:00Z")
    _, opts = admit(detect, **LIMITS)
    assert opts.time_zone == "Asia/Tokyo" and opts.reference_time.year == 2025


@pytest.mark.parametrize("req, field", [
    (pb2.AnalyzeRequest(text=""), "text"),
    (pb2.AnalyzeRequest(text="\u2003\n"), "text"),
    (pb2.AnalyzeRequest(text="x" * 21), "text"),
    (pb2.AnalyzeRequest(text="ok", top_k=51), "top_k"),
    (pb2.AnalyzeRequest(text="ok", time_zone="Nope/Nowhere"), "time_zone"),
    (pb2.AnalyzeRequest(text="ok", locale="e"), "locale"),
    (pb2.AnalyzeRequest(text="ok", context=pb2.RequestContext(session_id="s" * 300)), "context.session_id"),
])
def test_admit_rejects_naming_the_field(req, field):
    with pytest.raises(InvalidRequest) as err:
        admit(req, **LIMITS)
    assert str(err.value).startswith(field)


@pytest.mark.parametrize("text", ["\u200b\u200b", "\x00\x00", "\u2060\ufeff \x00", "\u2028",
                                  # combining marks alone and U+FFFD: the tokenizer leaves [CLS] [SEP]
                                  "\u0301", "\ufe0f", "\ufffd", "\u034f", " \u0301\u20dd ",
                                  # drawn blank: Hangul fillers, the blank braille pattern
                                  "\u3164", "\u2800 \u2800", "\u115f\u1160", "\uffa0"])
def test_text_without_visible_characters_is_invalid(text):
    with pytest.raises(InvalidRequest, match="text: no visible characters"):
        admit(pb2.AnalyzeRequest(text=text), **LIMITS)


@pytest.mark.parametrize("text", ["cafe\u0301", "\u2764\ufe0f", "?", "\u0915\u093e", "\ufffd1"])
def test_a_mark_or_symbol_with_something_to_read_is_valid(text):
    assert admit(pb2.AnalyzeRequest(text=text), **LIMITS)[0] == text


@pytest.mark.parametrize("iso", ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "1899-12-31T23:59:59Z",
                                 "2201-01-01T00:00:00Z"])
def test_reference_time_outside_the_calendar_range_is_invalid(iso):
    req = pb2.AnalyzeRequest(text="pay it tomorrow")
    req.reference_time.FromJsonString(iso)
    with pytest.raises(InvalidRequest, match=r"reference_time: outside the years 1900\.\.2200"):
        admit(req, **LIMITS)


def test_batch_time_model_follows_the_machine_and_ignores_a_stall():
    model = BatchTimeModel()  # a batched graph: one call for the padded batch
    assert model.forward_s([1000]) == 0.0 and model.backlog_s(50, 800, 10) == 0.0  # no estimate yet
    for tokens in (20, 100, 400, 50, 800, 200) * 5:  # 10 us a token, FIXED_TOKENS of them a call
        model.observe_forward([tokens], 1e-5 * (tokens + FIXED_TOKENS))
    assert model.forward_s([100, 30, 50]) == pytest.approx(1e-5 * (300 + FIXED_TOKENS))  # padded to 100
    assert model.backlog_s(30, 1000, 10) == pytest.approx(1e-5 * (1000 * 1.15 + 3 * FIXED_TOKENS))
    model.observe_forward([100], 1.0)  # a 1 s stall: moves the estimate by a bounded step
    assert model.forward_s([300]) < 1.3 * 1e-5 * (300 + FIXED_TOKENS)
    for _ in range(60):  # the machine really got twice as slow: followed
        model.observe_forward([100], 2e-5 * (100 + FIXED_TOKENS))
    assert model.forward_s([300]) == pytest.approx(2e-5 * (300 + FIXED_TOKENS), rel=0.01)
    model.observe_post(10, 0.004)
    assert model.batch_s([30] * 10) == pytest.approx(model.forward_s([30] * 10) + 0.004)


def test_a_row_wise_backlog_costs_one_call_per_request():
    """The served INT8 graph runs each row in its own call: seven queued requests are seven calls
    on their own tokens, not one padded batch (which under-predicted such a queue by a third)."""
    model = BatchTimeModel(row_wise=True)
    for tokens in (8, 15, 30) * 5:  # 0.12 ms a token, ROW_FIXED_TOKENS of them a call
        model.observe_forward([tokens], 1.2e-4 * (tokens + ROW_FIXED_TOKENS))
    assert model.forward_s([10, 20, 30]) == pytest.approx(1.2e-4 * (60 + 3 * ROW_FIXED_TOKENS))
    assert model.backlog_s(7, 105, 32) == pytest.approx(1.2e-4 * (105 + 7 * ROW_FIXED_TOKENS))
    batched = BatchTimeModel()
    for tokens in (8, 15, 30) * 5:  # the same rows, timed the same, seen as batches
        batched.observe_forward([tokens], 1.2e-4 * (tokens + ROW_FIXED_TOKENS))
    assert batched.backlog_s(7, 105, 32) < 0.75 * model.backlog_s(7, 105, 32)


def test_rows_side_by_side_cost_their_largest_share():
    """`--row-threads 2`: rows taken in turn by two threads take as long as the larger
    share, and a backlog about half as long as on one thread."""
    model = BatchTimeModel(row_wise=True, row_threads=2)
    for tokens in (8, 15, 30) * 5:  # single rows: no sharing, timed as on one thread
        model.observe_forward([tokens], 1.2e-4 * (tokens + ROW_FIXED_TOKENS))
    assert model.forward_s([30]) == pytest.approx(1.2e-4 * (30 + ROW_FIXED_TOKENS))
    # rows 0 and 2 on the calling thread, row 1 on the helper
    assert model.forward_s([10, 20, 30]) == pytest.approx(1.2e-4 * (40 + 2 * ROW_FIXED_TOKENS))
    assert model.backlog_s(7, 105, 32) == pytest.approx(1.2e-4 * (105 + 7 * ROW_FIXED_TOKENS) / 2)
    assert model.backlog_s(1, 15, 32) == pytest.approx(1.2e-4 * (15 + ROW_FIXED_TOKENS))
    assert BatchTimeModel(row_wise=False, row_threads=2).row_threads == 1  # a batched graph: one call


def parse(argv):
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(argv)


def test_settings_precedence_file_env_flags(tmp_path):
    toml = tmp_path / "serve.toml"
    toml.write_text('model = "art"\nmax-batch-size = 8\ncache_size = 10\nproviders = ["CPUExecutionProvider"]\n')
    args = parse(["--config", str(toml), "--cache-size", "3"])
    s = Settings.from_sources({k: v for k, v in vars(args).items() if k != "config"},
                              env={"INTENTD_MAX_BATCH_SIZE": "16", "INTENTD_WARM_UP": "no"}, config_file=toml)
    assert s.model == tmp_path / "art"  # relative to the file
    assert s.max_batch_size == 16 and s.cache_size == 3 and not s.warm_up
    assert s.providers == ("CPUExecutionProvider",) and s.max_queue == 256


def test_row_threads_fill_the_cores_intra_op_threads_leave():
    cores = usable_cores()
    assert Settings(model="/a", intra_op_threads=1).onnx_row_threads == cores
    assert Settings(model="/a", intra_op_threads=cores).onnx_row_threads == 1
    assert Settings(model="/a", intra_op_threads=1, row_threads=3).onnx_row_threads == 3
    assert Settings(model="/a", listen="127.0.0.1:1", workers=cores, intra_op_threads=1).onnx_row_threads == 1
    with pytest.raises(ConfigError, match="--row-threads must be 0 or more"):
        Settings(model="/a", row_threads=-1)


def test_a_containers_cpu_quota_is_read_from_its_cgroup(tmp_path):
    """A pod limited to 2 CPUs sees every core of its node in its affinity: thread defaults
    follow the quota (cgroup v2 `cpu.max`, v1 CFS quota), not the node."""
    v2 = tmp_path / "v2"
    v2.mkdir()
    (v2 / "cpu.max").write_text("150000 100000\n")
    assert cgroup_cpu_quota(v2) == 1.5
    (v2 / "cpu.max").write_text("max 100000\n")
    assert cgroup_cpu_quota(v2) is None
    (v2 / "cpu.max").write_text("garbage\n")
    assert cgroup_cpu_quota(v2) is None
    v1 = tmp_path / "v1"
    (v1 / "cpu").mkdir(parents=True)
    (v1 / "cpu" / "cpu.cfs_quota_us").write_text("400000\n")
    (v1 / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert cgroup_cpu_quota(v1) == 4.0
    (v1 / "cpu" / "cpu.cfs_quota_us").write_text("-1\n")
    assert cgroup_cpu_quota(v1) is None
    assert cgroup_cpu_quota(tmp_path / "none") is None


def test_a_settings_file_reads_its_values_as_written(tmp_path):
    """YAML reads an unquoted 0660 as the number 432 and TOML 0o660 likewise: the socket's mode is
    still 0660, not 0o432 (writable by others). A key left empty is not set, never the text
    "None" (a capture file named None). A YAML boolean where a number is meant is an error."""
    yml, toml = tmp_path / "serve.yaml", tmp_path / "serve.toml"
    yml.write_text("model: /a\nuds_mode: '0660'\ncapture_path:\nuds:\nlisten:\nmodel_root:\n")
    s = Settings.from_sources(env={}, config_file=yml)
    assert s.uds_permissions == 0o660
    assert (s.capture_path, s.uds, s.model_root, s.listen) == (None, None, None, Settings(model="/a").listen)
    # unquoted, YAML reads 0660 as 432 and 660 as 660, TOML 0o660 as 432: which was meant is lost
    for path, text in ((yml, "model: /a\nuds_mode: 0660\n"), (yml, "model: /a\nuds_mode: 660\n"),
                       (toml, 'model = "/a"\nuds_mode = 0o660\n')):
        path.write_text(text)
        with pytest.raises(ConfigError, match="uds_mode: .*write the mode as a quoted string"):
            Settings.from_sources(env={}, config_file=path)
    # an empty flag turns off what the file set
    yml.write_text("model: /a\nuds: /tmp/x.sock\ncapture_path: /tmp/review.jsonl\n")
    s = Settings.from_sources({"uds": None, "capture_path": None}, env={}, config_file=yml)
    assert (s.uds, s.capture_path) == (None, None)
    yml.write_text("model: /a\nmax_queue: true\n")
    with pytest.raises(ConfigError, match="max_queue: True is not a valid int"):
        Settings.from_sources(env={}, config_file=yml)
    # a key written twice: YAML keeps the last without a word (which listener did the operator mean?)
    yml.write_text("model: /a\nlisten: 127.0.0.1:1\nlisten: 0.0.0.0:2\n")
    with pytest.raises(ConfigError, match="at line 3 .*duplicate key 'listen' .first at line 2"):
        Settings.from_sources(env={}, config_file=yml)
    assert Settings.from_sources({"model": "/a"}, env={"INTENTD_UDS": ""}).uds is None  # --uds= : no socket


def test_settings_yaml_and_errors(tmp_path):
    yml = tmp_path / "serve.yaml"
    yml.write_text("model: /a\nuds: /tmp/x.sock\nlisten: ''\n")
    s = Settings.from_sources(env={}, config_file=yml)
    assert s.listen == "" and str(s.uds) == "/tmp/x.sock"
    yml.write_text("model: /a\nbogus: 1\n")
    with pytest.raises(ConfigError, match="unknown setting 'bogus'$"):
        Settings.from_sources(env={}, config_file=yml)
    yml.write_text("model: /a\nmax_queu: 1\n")
    with pytest.raises(ConfigError, match=r"unknown setting 'max_queu' \(did you mean 'max_queue'\?\)$"):
        Settings.from_sources(env={}, config_file=yml)
    yml.write_text("model: /a\nlisten: [1, 2\n")
    with pytest.raises(ConfigError, match=r"serve.yaml: not valid YAML at line 3 \(expected ',' or '\]', but got "
                                          r"'<stream end>'\)$"):  # one line, not the parser's quote of the file
        Settings.from_sources(env={}, config_file=yml)
    yml.write_bytes(b"model: /a\nlisten: caf\xe9\n")
    with pytest.raises(ConfigError, match=r"serve.yaml:2: not valid UTF-8 \(invalid continuation byte at byte 21\)"):
        Settings.from_sources(env={}, config_file=yml)
    with pytest.raises(ConfigError, match="INTENTD_MAX_QUEUE"):
        Settings.from_sources({"model": "/a"}, env={"INTENTD_MAX_QUEUE": "lots"})
    with pytest.raises(ConfigError, match="no model"):
        Settings.from_sources(env={})
    with pytest.raises(ConfigError, match="--max-queue"):
        Settings(model="/a", max_queue=10_000)
    with pytest.raises(ConfigError, match="--slo-transport-ms must be 0 or more and under --slo-p95-ms"):
        Settings(model="/a", slo_p95_ms=3, slo_transport_ms=3)
    for raw in ("nan", "inf", "-inf"):  # nan would pass every range check; no setting means infinity
        with pytest.raises(ConfigError, match="INTENTD_SLO_P95_MS.*not a valid finite number"):
            Settings.from_sources({"model": "/a"}, env={"INTENTD_SLO_P95_MS": raw})
    with pytest.raises(ConfigError, match="--providers: CUDAExecutionProvidr is not an onnxruntime execution provider"):
        Settings(model="/a", providers=("CUDAExecutionProvidr", "CPUExecutionProvider"))
    assert Settings(model="/a", providers=("CUDAExecutionProvider", "CPUExecutionProvider"))  # known: may fall back
    with pytest.raises(ConfigError, match="--admin-client-cn with --workers > 1: a ReloadModel call would reach"):
        Settings(model="/a", workers=2, admin_client_cn=("ops",), tls_cert=Path(__file__), tls_key=Path(__file__),
                 tls_client_ca=Path(__file__))
    with pytest.raises(ConfigError, match="--workers 100000 is over"):
        Settings(model="/a", workers=100_000)
    assert Settings(model="/a", slo_p95_ms=0, slo_transport_ms=3).own_slo_s == 0.0  # no SLO, nothing to share
    assert Settings(model="/a", slo_p95_ms=25, slo_transport_ms=3).own_slo_s == pytest.approx(0.022)


@pytest.mark.parametrize("name", ["stream_idle_timeout", "stall_timeout", "connection_idle_timeout", "grace_period"])
def test_a_setting_given_as_nan_is_refused(name):
    """Flags refuse nan, but settings built in code passed every `< 0` check with it (an idle
    timeout of nan never fired)."""
    with pytest.raises(ConfigError, match=f"--{name.replace('_', '-')} must be a finite number"):
        Settings(model="/a", **{name: math.nan})


def test_transport_settings_are_checked(tmp_path):
    pem = tmp_path / "cert.pem"
    pem.write_text("x")
    with pytest.raises(ConfigError, match="--tls-cert and --tls-key go together"):
        Settings(model="/a", tls_cert=pem)
    with pytest.raises(ConfigError, match="--tls-client-ca needs --tls-cert"):
        Settings(model="/a", tls_client_ca=pem)
    with pytest.raises(ConfigError, match="--tls-key .*: not a readable file"):
        Settings(model="/a", tls_cert=pem, tls_key=tmp_path / "missing.pem")
    with pytest.raises(ConfigError, match="--uds-mode"):
        Settings(model="/a", uds_mode="rw-rw----")
    with pytest.raises(ConfigError, match="--admin-client-cn needs --tls-client-ca"):
        Settings(model="/a", admin_client_cn=("ops",))
    with pytest.raises(ConfigError, match="--workers > 1 serves TCP only"):
        Settings(model="/a", workers=2, uds=tmp_path / "s.sock")
    with pytest.raises(ConfigError, match="the same path as --uds"):  # it said another process listened there
        Settings(model="/a", uds=tmp_path / "s.sock", admin_uds=tmp_path / "." / "s.sock")
    with pytest.raises(ConfigError, match="--metrics-host: empty"):
        Settings(model="/a", metrics_port=9100, metrics_host="")
    assert Settings(model="/a").uds_permissions == 0o660
    assert Settings(model=tmp_path / "arts" / "one").reload_root == (tmp_path / "arts").resolve()


def test_admit_share_tightens_while_answers_are_late_and_recovers():
    share = AdmitShare()
    for _ in range(2000):  # every answer in time: never below 1 (no shedding on noise)
        share.observe(False)
    assert share.value == 1.0
    for i in range(300):  # 2 late in every 25: twice the misses a p95 objective allows
        share.observe(i % 25 < 2 * TARGET_MISS * 25)
    assert share.value == pytest.approx(0.8 ** 3, rel=0.02)  # a fifth off per 100 answers
    for _ in range(4000):  # overload that no cut cures: bounded below
        share.observe(True)
    assert share.value == MIN_SHARE
    for _ in range(100):  # in time again: a quarter up per 100 answers
        share.observe(False)
    assert share.value == pytest.approx(MIN_SHARE * 1.25, rel=0.01)
    for _ in range(650):  # from the floor back to all of the budget in ~720 answers
        share.observe(False)
    assert share.value == 1.0


def test_admit_share_recovers_with_time_nothing_is_in_progress():
    """After an overload, answers alone took a quiet server ten minutes to admit against its
    whole budget again, shedding meanwhile what it had room for."""
    share = AdmitShare()
    for _ in range(4000):
        share.observe(True)
    assert share.value == MIN_SHARE
    share.rest(LATE_PAUSE_S)  # a pause right after late answers may be between the bursts of an overload
    assert share.value == MIN_SHARE
    share.observe(True)
    share.rest(LATE_PAUSE_S + SHARE_RECOVERY_S)  # a long one is not: what it lasts past that counts
    assert share.value == pytest.approx(MIN_SHARE * math.e, rel=1e-9)
    for _ in range(4000):
        share.observe(True)
    share.observe(False)
    share.rest(0.002)  # the gaps of a busy server barely move it
    assert share.value == pytest.approx(MIN_SHARE, rel=5e-3)
    before = share.value
    share.rest(SHARE_RECOVERY_S)
    assert share.value == pytest.approx(before * math.e, rel=1e-9)
    share.rest(60.0)
    assert share.value == 1.0


def test_bursts_that_end_late_do_not_recover_the_share_in_their_pauses():
    """Each burst runs late and then pauses: were pauses to count, the late share would settle
    far past its target (16 % with bursts of 30 a second apart)."""
    paused, unpaused = AdmitShare(), AdmitShare()
    for _ in range(100):
        paused.rest(1.0)
        for i in range(30):
            paused.observe(i < 2)  # 2 of every 30 late: past the target
            unpaused.observe(i < 2)
    assert paused.value == unpaused.value < 0.5


def test_admit_share_counts_every_late_answer_whatever_their_order():
    """The share after a run of answers depends on how many were late, not on how they were
    spread: a burst of lateness is not forgiven by the clean answers around it (judging windows
    of answers did: one clean window undid part of a burst's cut). At the target it holds."""
    rng = random.Random(7)

    def run(answers: list[bool], start: float = 0.5) -> float:
        share = AdmitShare()
        share.value = start
        for missed in answers:
            share.observe(missed)
        return share.value

    burst = [True] * 10 + [False] * 190  # 5 %: a burst, then clean
    spread = burst[:]
    rng.shuffle(spread)
    assert run(burst) == pytest.approx(run(spread), rel=1e-9)
    assert run(burst) < 0.5  # more than the target: lower
    at_target = [i < round(TARGET_MISS * 500) for i in range(500)]
    rng.shuffle(at_target)
    assert run(at_target) == pytest.approx(0.5, rel=1e-9)


def test_arrival_rate_counts_the_last_window_and_says_when_the_server_is_quiet():
    rate = ArrivalRate()
    assert rate.per_s(0.0) == 0 and rate.quiet_for(0.004, 0.0)  # nothing arrived yet
    for i in range(20):  # 20 a second
        rate.arrive(10.0 + i * 0.05)
    assert rate.per_s(10.96) == 20 / RATE_WINDOW_S
    pass_s = 0.9 * INLINE_MAX_ARRIVALS / 20  # 0.9 arrivals of the limit expected during it
    assert rate.quiet_for(pass_s, 10.96) and not rate.quiet_for(pass_s * 1.2, 10.96)
    for i in range(40):  # a burst at 50 a second
        rate.arrive(11.0 + i * 0.02)
    # in (10.79, 11.79]: the 4 last of the first 20 (10.80 ... 10.95) and the 40 of the burst
    assert rate.per_s(11.79) == 44 / RATE_WINDOW_S and not rate.quiet_for(pass_s, 11.79)
    assert rate.per_s(11.0 + 40 * 0.02 + RATE_WINDOW_S) == 0  # a second of silence forgets it all
    rate.arrive(20.0)
    assert rate.quiet_for(pass_s, 20.0)
    rate.arrive(20.004)  # another 4 ms later: a burst, though 2 a second is quiet on average
    assert not rate.quiet_for(pass_s, 20.004)
    assert rate.quiet_for(pass_s, 20.0 + BURST_PASSES * pass_s + 1e-6)  # 4 passes apart: 18 ms here
    assert rate.quiet_for(0.0001, 20.0 + BURST_WINDOW_S + 1e-6)  # fast passes: at least 10 ms


def test_slo_attainment_is_nan_until_there_is_an_answer_to_count():
    """0 before any answer (or with no SLO at all) reads as "every answer late" to an alert."""
    import math

    from prometheus_client import generate_latest

    from intentd.server.metrics import Metrics

    def exported(m: Metrics) -> float:
        line = next(x for x in generate_latest(m.registry).decode().splitlines() if x.startswith("intentd_slo_attainment "))
        return float(line.split()[1])

    metrics = Metrics()
    assert math.isnan(exported(metrics))
    metrics.observe_latency(0.010, 0.0)  # --slo-p95-ms 0: nothing to attain
    assert math.isnan(exported(metrics))
    metrics.observe_latency(0.030, 0.025)  # a cold first answer: no "half of all late" on two answers
    metrics.observe_latency(0.010, 0.025)
    assert math.isnan(exported(metrics))
    for _ in range(ROLLING_MIN - 2):
        metrics.observe_latency(0.010, 0.025)
    assert exported(metrics) == (ROLLING_MIN - 1) / ROLLING_MIN
    metrics.refresh()  # nothing aged out yet
    assert exported(metrics) == (ROLLING_MIN - 1) / ROLLING_MIN


def test_rolling_rates_age_out_and_say_nothing_on_too_few_answers():
    """The last 1,000 answers, whenever they came: after a one-second burst an idle replica held its
    SLO attainment at 0.86 (and the alert on it) until traffic came back."""
    rate = RollingRate(window=5, seconds=60.0, minimum=3)
    assert math.isnan(rate.add(True, 0.0)) and math.isnan(rate.add(False, 1.0))
    assert rate.add(False, 2.0) == pytest.approx(1 / 3)
    for t in (3.0, 4.0, 5.0):
        rate.add(False, t)
    assert rate.share(5.0) == 0.0  # the window's 5 answers: the True at 0.0 fell out of it
    assert rate.share(62.5) == 0.0  # the answers at 3, 4, 5 s are still within a minute
    assert math.isnan(rate.share(63.5))  # two left: too few to say
    rate.add(True, 100.0)
    assert math.isnan(rate.share(100.0)) and math.isnan(rate.share(1000.0))
