"""Admission rules and the settings sources (flags, environment, config file)."""

from __future__ import annotations

import argparse

import pytest

from intentd.protogen import import_stubs
from intentd.server.admission import DeadlineUnmeetable, InvalidRequest, WaitEstimator, admit
from intentd.server.config import ConfigError, Settings, add_arguments

pb2, _ = import_stubs()
LIMITS = dict(max_chars=20, default_top_k=5, max_top_k=50)


def test_admit_builds_options():
    req = pb2.AnalyzeRequest(text="hi\x00\x07 there", top_k=0, time_zone="Asia/Tokyo", locale="en_GB",
                             context=pb2.RequestContext(filled_slots={"b": "2", "a": "1"}, previous_intent="x"))
    req.reference_time.FromJsonString("2025-01-01T00:00:00Z")
    text, opts = admit(req, **LIMITS)
    assert text == "hi\x00\x07 there"  # control characters are fine
    assert opts.top_k == 5 and opts.time_zone == "Asia/Tokyo" and opts.locale == "en-GB"
    assert opts.filled_slots == (("a", "1"), ("b", "2")) and opts.previous_intent == "x"
    assert opts.reference_time.year == 2025 and opts.reference_time.tzinfo is not None
    _, opts = admit(pb2.DetectIntentRequest(text="hello", top_k=3), **LIMITS)  # no time zone field
    assert opts.top_k == 3 and opts.time_zone is None


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


def test_wait_estimator():
    est = WaitEstimator(max_batch_size=10)
    est.check(0.001, queued=500)  # no estimate yet: only a passed deadline is refused
    with pytest.raises(DeadlineUnmeetable):
        est.check(0.0, queued=0)
    est.observe(0.010)
    est.check(0.5, queued=9)
    with pytest.raises(DeadlineUnmeetable):
        est.check(0.05, queued=100)  # ~11 batches of 10 ms ahead


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


def test_settings_yaml_and_errors(tmp_path):
    yml = tmp_path / "serve.yaml"
    yml.write_text("model: /a\nuds: /tmp/x.sock\nlisten: ''\n")
    s = Settings.from_sources(env={}, config_file=yml)
    assert s.listen == "" and str(s.uds) == "/tmp/x.sock"
    yml.write_text("model: /a\nbogus: 1\n")
    with pytest.raises(ConfigError, match="unknown setting 'bogus'"):
        Settings.from_sources(env={}, config_file=yml)
    with pytest.raises(ConfigError, match="INTENTD_MAX_QUEUE"):
        Settings.from_sources({"model": "/a"}, env={"INTENTD_MAX_QUEUE": "lots"})
    with pytest.raises(ConfigError, match="no model"):
        Settings.from_sources(env={})
    with pytest.raises(ConfigError, match="--max-queue"):
        Settings(model="/a", max_queue=10_000)
