"""The Go example (clients/go) against the real server on a Unix socket.

The fixture runs clients/go/build.sh as a user would: it regenerates the stubs from proto/ with
protoc-gen-go and protoc-gen-go-grpc, then builds; with Debian's Go gRPC packages it needs no
module proxy.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

import client_scenarios as scenarios
from conftest import REPO

GO_DIR = REPO / "clients" / "go"
# build.sh takes another protoc command from $PROTOC
TOOLS = ("go", "protoc-gen-go", "protoc-gen-go-grpc") + (() if os.environ.get("PROTOC") else ("protoc",))


@pytest.fixture(scope="module")
def example() -> list[str]:
    missing = [tool for tool in TOOLS if not shutil.which(tool)]
    if missing:
        pytest.skip(f"{', '.join(missing)} not found: the Go client needs Go with grpc-go and protobuf-go "
                    "(Debian: see clients/README.md, Go)")
    done = subprocess.run([str(GO_DIR / "build.sh")], capture_output=True, text=True, timeout=900)
    if done.returncode:
        pytest.fail(f"clients/go/build.sh failed (exit {done.returncode}):\n{done.stdout}\n{done.stderr}")
    return [str(GO_DIR / "bin" / "chat-backend")]


def test_conversation(example, banking_artifact):
    scenarios.conversation(example, banking_artifact)


def test_follow_ups(example, banking_artifact):
    scenarios.follow_ups(example, banking_artifact)


def test_holds_and_repeats(example, banking_artifact):
    scenarios.holds_and_repeats(example, banking_artifact)


def test_asks_an_optional_date_until_said(example, banking_artifact):
    scenarios.asks_an_optional_date_until_said(example, banking_artifact)


def test_a_repeat_after_a_confirm_says_the_last_answer_again(example, banking_artifact):
    scenarios.repeats_its_last_answer(example, banking_artifact)


def test_bad_input_is_not_retried(example, banking_artifact):
    scenarios.bad_input_is_not_retried(example, banking_artifact)


def test_retries_while_the_queue_is_full(example, banking_artifact):
    scenarios.retries_while_the_queue_is_full(example, banking_artifact)


def test_retries_until_the_sidecar_is_up(example, banking_artifact):
    scenarios.retries_until_the_sidecar_is_up(example, banking_artifact)


def test_answers_after_a_restart(example, banking_artifact):
    scenarios.answers_after_a_restart(example, banking_artifact)


def test_gives_up_at_the_bounds(example):
    scenarios.gives_up_at_the_bounds(example)


def test_a_deadline_after_retries_names_what_was_retried(example):
    scenarios.a_deadline_after_retries_names_what_was_retried(example)


def test_waits_as_long_as_a_draining_server_asks(example, banking_artifact):
    scenarios.waits_as_long_as_a_draining_server_asks(example, banking_artifact)


def test_tls(example, banking_artifact, tmp_path):
    scenarios.tls(example, banking_artifact, tmp_path)
