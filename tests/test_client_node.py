"""The Node.js client (clients/node) against the real server on a Unix socket.

The fixture builds the client as a user would: `npm ci` (once; node_modules is kept), then
`npm run build`, which regenerates the stubs from proto/ and compiles them, so a change to the
contract that breaks the client fails here.
"""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

import client_scenarios as scenarios
from conftest import REPO
from servers import ThreadServer

NODE_DIR = REPO / "clients" / "node"
MIN_NODE_MAJOR = 18  # util.parseArgs


def _npm(npm: str, *args: str, timeout: float) -> None:
    done = subprocess.run([npm, *args], cwd=NODE_DIR, capture_output=True, text=True, timeout=timeout)
    if done.returncode:
        pytest.fail(f"npm {' '.join(args)} failed in clients/node (exit {done.returncode}):\n"
                    f"{done.stdout}\n{done.stderr}")


@pytest.fixture(scope="module")
def node() -> str:
    node, npm = shutil.which("node"), shutil.which("npm")
    if not (node and npm):
        pytest.skip("node/npm not found: the Node.js client tests need Node.js 18+ and npm on PATH")
    version = subprocess.run([node, "--version"], capture_output=True, text=True, check=True).stdout.strip()
    if int(version.lstrip("v").split(".")[0]) < MIN_NODE_MAJOR:
        pytest.skip(f"node {version} is older than {MIN_NODE_MAJOR}: the Node.js client needs Node.js 18+")
    installed = NODE_DIR / "node_modules" / ".package-lock.json"  # npm writes it on every install
    if not installed.exists() or installed.stat().st_mtime < (NODE_DIR / "package-lock.json").stat().st_mtime:
        _npm(npm, "ci", "--no-audit", "--no-fund", timeout=900)
    _npm(npm, "run", "build", timeout=300)
    return node


@pytest.fixture(scope="module")
def example(node) -> list[str]:
    return [node, str(NODE_DIR / "dist" / "examples" / "chat-backend.js")]


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


# Decided actions: a cancelled transfer, then "yes"; a confirmed one, then "yes" again; a confirm
# that still asks for the amount, answered next.
DECIDED = ["move 50 dollars from checking to savings", "no", "yes",
           "move 50 dollars from checking to savings", "yes", "yes",
           "i want to move money", "yes", "50 dollars"]


def test_nothing_is_carried_past_a_decided_action(example, banking_artifact):
    """After a CANCEL, or a CONFIRM that asks for nothing more, the next turn sends no context
    (README, "Voice and chat backends"): "yes" neither brings the cancelled transfer back nor
    confirms the confirmed one twice. A CONFIRM that asks for a slot keeps it for the answer."""
    with scenarios.socket_path() as sock, ThreadServer(model=banking_artifact, uds=sock):
        turns = scenarios.answered_turns(scenarios.run_example(
            example, "--target", f"unix:{sock}", "--deadline-ms", "5000", "--json", *DECIDED))
    got = [scenarios.follow_up_of(turn)[:3] for turn in turns]
    transfer = {"account": "checking,savings", "account.source": "checking", "account.destination": "savings",
                "amount": "50 USD"}
    assert got == [
        ("", "", transfer),
        ("FOLLOW_UP_KIND_CANCEL", "transfer_money", {}),
        ("", "", {}),  # a "yes" of its own: nothing to confirm
        ("", "", transfer),
        ("FOLLOW_UP_KIND_CONFIRM", "transfer_money", transfer),
        ("", "", {}),
        ("", "", {}),  # "How much would you like to transfer?"
        ("FOLLOW_UP_KIND_CONFIRM", "transfer_money", {}),  # asks for the amount again
        ("FOLLOW_UP_KIND_UPDATE", "transfer_money", {"amount": "50 USD"}),
    ], [turn["response"] for turn in turns]


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


def test_waits_as_long_as_a_draining_server_asks(example, banking_artifact):
    scenarios.waits_as_long_as_a_draining_server_asks(example, banking_artifact)


def test_a_deadline_after_retries_names_what_was_retried(example):
    scenarios.a_deadline_after_retries_names_what_was_retried(example)


def test_usage_errors_exit_2(example):
    for args, message in [([], "give at least one MESSAGE"), (["--attempts", "0", "hi"], "--attempts"),
                          (["--tls-cert", "c.pem", "hi"], "--tls-cert and --tls-key go together"),
                          (["--no-such-flag", "hi"], "no-such-flag")]:
        done = subprocess.run([*example, *args], capture_output=True, text=True, timeout=60)
        assert done.returncode == 2 and message in done.stderr, (args, done.stderr)


# Every RPC of the typed client, the stream included, from a script that imports the package.
EVERY_RPC = r"""
const { IntentdClient } = require(process.argv[1]);
const client = new IntentdClient(process.argv[2], { timeoutMs: 30000 });
(async () => {
  const text = "what is my checking balance";
  const info = await client.getModelInfo();
  const detected = await client.detectIntent({ text, topK: 2 });
  const extracted = await client.extractEntities({ text });
  const responded = await client.respond({ text, context: { filledSlots: { account: "checking" } } });
  const stream = client.analyzeStream({ timeoutMs: 30000 });
  for (const partial of ["what is my", text]) stream.send({ text: partial, topK: 1 });
  stream.end();
  const answers = [];
  for await (const reply of stream) answers.push(reply.intents[0].name);
  client.close();
  console.log(JSON.stringify({
    intents: info.intents.length, maxTextChars: info.maxTextChars,
    detected: detected.intents.map((i) => i.name), extracted: extracted.entities.map((e) => e.text),
    responded: responded.intent.name, answers,
  }));
})().catch((error) => { console.error(error); process.exit(1); });
"""


def test_every_rpc_of_the_typed_client(node, banking_artifact):
    with scenarios.socket_path() as sock, ThreadServer(model=banking_artifact, uds=sock) as server:
        done = subprocess.run([node, "-e", EVERY_RPC, str(NODE_DIR / "dist" / "src" / "index.js"), f"unix:{sock}"],
                              capture_output=True, text=True, timeout=120)
        stamped = server.metric("intentd_transit_seconds_count", {"by": "stamp"})
    assert done.returncode == 0, done.stderr
    assert stamped == 3  # each unary call of the three that are answered carried its send time
    got = json.loads(done.stdout)
    assert got["intents"] > 2 and got["maxTextChars"] > 0
    assert len(got["detected"]) == 2 and got["detected"][0] == "check_balance"
    assert got["extracted"] == ["checking"] and got["responded"] == "check_balance"
    assert len(got["answers"]) == 2 and got["answers"][1] == "check_balance"


# A voice call's stream, from a client made as clients/README.md shows: its words come for longer
# than a unary call's deadline (300 ms, and the default 1 s), and every message is answered.
LONG_STREAM = r"""
const { IntentdClient } = require(process.argv[1]);
const client = new IntentdClient(process.argv[2], { timeoutMs: 300 });
const words = "i would like to know the balance of my checking account".split(" ");
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const started = Date.now();
const stream = client.analyzeStream();
const answers = [];
const reading = (async () => { for await (const answer of stream) answers.push(answer.sequence); })();
const speaking = (async () => {
  for (let n = 1; n <= words.length; n++) {
    stream.send({ text: words.slice(0, n).join(" "), isFinal: n === words.length });
    await sleep(120);
  }
  stream.end();
})();
Promise.all([reading, speaking])
  .then(() => { console.log(JSON.stringify({ answers, ms: Date.now() - started })); })
  .catch((error) => {
    console.error(`${error.code} ${error.details} after ${Date.now() - started} ms`);
    process.exitCode = 1;
  })
  .finally(() => client.close());
"""


def test_a_stream_outlasts_the_unary_timeout(node, banking_artifact):
    with scenarios.socket_path() as sock, ThreadServer(model=banking_artifact, uds=sock):
        done = subprocess.run([node, "-e", LONG_STREAM, str(NODE_DIR / "dist" / "src" / "index.js"), f"unix:{sock}"],
                              capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout)
    assert got["answers"] == list(range(1, 12)) and got["ms"] > 1000


# A request over gRPC's 4 MB message limit: RESOURCE_EXHAUSTED from gRPC itself, never retried.
TOO_LARGE = r"""
const { IntentdClient, withRetry } = require(process.argv[1]);
const client = new IntentdClient(process.argv[2], { timeoutMs: 30000 });
const filledSlots = {};
const huge = process.argv[3] === "message";
if (huge) for (let i = 0; i < 300; i++) filledSlots[`slot${i}`] = "x".repeat(20000);
const grpc = require(require.resolve("@grpc/grpc-js", { paths: [require("path").dirname(process.argv[1])] }));
const metadata = new grpc.Metadata();
if (!huge) metadata.set("x-request-id", "x".repeat(40000));
let calls = 0;
withRetry(() => { calls++; return client.respond({ text: "hi", context: { filledSlots } }, { metadata }); },
          new Date(Date.now() + 30000))
  .then(() => { console.log(JSON.stringify({ calls, code: "OK" })); })
  .catch((error) => { console.log(JSON.stringify({ calls, code: error.code, details: error.details })); })
  .finally(() => client.close());
"""


@pytest.mark.parametrize("what, refusal", [("message", "larger than max"), ("metadata", "exceeds hard limit")])
def test_a_request_over_grpcs_size_limit_is_not_retried(node, banking_artifact, what, refusal):
    with scenarios.socket_path() as sock, ThreadServer(model=banking_artifact, uds=sock):
        done = subprocess.run([node, "-e", TOO_LARGE, str(NODE_DIR / "dist" / "src" / "index.js"), f"unix:{sock}",
                               what], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout)
    assert got["code"] == 8 and refusal in got["details"], got  # RESOURCE_EXHAUSTED, from gRPC
    assert got["calls"] == 1


def test_tls(example, banking_artifact, tmp_path):
    scenarios.tls(example, banking_artifact, tmp_path)
