"""Review capture: what it keeps, its size bound and rotation, a private file that survives symlinks and
failed writes, the written/dropped counts, redaction, and reading it back."""

from __future__ import annotations

import json
import logging
import os
import shlex
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from intentd.models.data.schema import read_jsonl
from intentd.server.analysis import Analysis, Escalation, RequestOptions, ResolvedEntity
from intentd.server.capture import CaptureError, CaptureSettings, ReviewCapture
from intentd.server.decode import Prediction
from intentd.server.metrics import Metrics
from intentd.server.engine import Engine
from intentd.server.locale import SUPPORTED
from intentd.server.redact import NUMBER_WORDS, redact

FOREIGN = [
    "quelle est la météo à Lyon demain",
    "asdkjh qwe zxcmnb poiu 4432 lkjh",
    "what is the best recipe for a chocolate lava cake",
    "who won the world cup in 1998",
]


@pytest.fixture(scope="module")
def pipeline(banking_artifact: Path) -> Engine:
    return Engine.load(banking_artifact)


def test_captures_escalated_not_confident_in_scope(pipeline: Engine, tmp_path: Path):
    cap = ReviewCapture(CaptureSettings(tmp_path / "review.jsonl", low_confidence=0.0))  # escalations only
    analyses = pipeline.analyze(FOREIGN + ["what is my checking account balance"])
    queued = [cap.offer(t, a) for t, a in zip(FOREIGN + ["x"], analyses)]
    cap.close()
    assert queued[-1] is analyses[-1].escalation.escalate is False  # a clear in-scope query is not captured
    rows = read_jsonl(tmp_path / "review.jsonl")
    assert len(rows) == sum(queued) >= 3
    assert all(r.meta and r.meta["model_version"] == pipeline.version for r in rows)


def test_a_follow_up_is_captured_only_when_escalated_and_says_what_it_followed(pipeline: Engine, tmp_path: Path):
    """"make it 75" after a transfer was captured as a low-confidence out-of-scope query with no
    trace of the turn before: a reviewer accepting the pre-fill would train it as out of scope."""
    cap = ReviewCapture(CaptureSettings(tmp_path / "review.jsonl", low_confidence=0.99))
    update, confirm = (pipeline.analyze([text], RequestOptions(previous_intent=previous, filled_slots=slots))[0]
                       for text, previous, slots in [("make it 75", "transfer_money", (("amount", "50 USD"),)),
                                                     ("yes", "report_fraud", ())])
    assert update.follow_up and update.prediction.confidence < 0.99 and not update.escalation.escalate
    assert confirm.follow_up and confirm.escalation.reason == "policy"  # the fraud team takes it from here
    assert [cap.offer("make it 75", update), cap.offer("yes", confirm)] == [False, True]
    cap.close()
    [row] = read_jsonl(tmp_path / "review.jsonl")
    assert row.meta["follow_up"] == {"kind": "confirm", "intent": "report_fraud"}


def test_a_session_id_that_breaks_lines_in_viewers_stays_one_record(pipeline: Engine, tmp_path: Path):
    """A session id holding U+2028, U+0085 or a bidi override was written raw: one record read as
    several lines by str.splitlines() and viewers (the access log escapes them already)."""
    cap = ReviewCapture(CaptureSettings(tmp_path / "review.jsonl", low_confidence=0.0))
    forged = "x\u2028INFO forged\u0085\u202e"
    analysis = pipeline.analyze([FOREIGN[0]])[0]
    assert cap.offer(FOREIGN[0], analysis, forged)
    cap.close()
    raw = (tmp_path / "review.jsonl").read_text(encoding="utf-8")
    assert len(raw.splitlines()) == 1 and "\u2028" not in raw
    assert read_jsonl(tmp_path / "review.jsonl")[0].meta["session_id"] == forged  # read back as sent


def test_rotation_bounds_disk_use(pipeline: Engine, tmp_path: Path):
    path = tmp_path / "review.jsonl"
    cap = ReviewCapture(CaptureSettings(path, max_bytes=2048, backups=2))
    analysis = pipeline.analyze([FOREIGN[0]])[0]
    assert analysis.escalation.escalate
    for _ in range(60):
        cap.offer(FOREIGN[0], analysis)
    cap.close()
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["review.jsonl", "review.jsonl.1", "review.jsonl.2"]
    assert all((tmp_path / f).stat().st_size <= 2048 for f in files)
    assert cap.written == 60 and cap.dropped == 0


def test_redaction_and_reimport(pipeline: Engine, tmp_path: Path):
    path = tmp_path / "capture" / "review.jsonl"
    text = "asdkjh card 4111 1111 1111 1111 qwe zxcmnb"
    cap = ReviewCapture(CaptureSettings(path, redact_digits=True, low_confidence=1.01))
    assert cap.offer(text, pipeline.analyze([text])[0])
    cap.close()
    line = path.read_text()
    assert "4111" not in line and "0000 0000 0000 0000" in line
    out = tmp_path / "imported"
    proc = subprocess.run([sys.executable, "-m", "intentd", "data", "import", "--format", "jsonl", str(path),
                           "--out", str(out)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    total = sum(len(read_jsonl(out / f"{s}.jsonl")) for s in ("train", "valid", "test"))
    assert total == 1
    assert json.loads(line)["meta"]["redacted"] is True


def test_bad_settings_are_rejected(tmp_path: Path):
    with pytest.raises(ValueError, match="max_bytes"):
        ReviewCapture(CaptureSettings(tmp_path / "r.jsonl", max_bytes=10))


# -- the file: private, never through a symlink, never a partial line, counted ---------------------

CHILD = Path(__file__).resolve().parent / "capture_child.py"


def escalated(text_entities: list[tuple[int, int, str]] = (), ood: bool = True) -> Analysis:
    """An answer as the pipeline returns it, for tests about the file rather than the model."""
    entities = [ResolvedEntity(t, "", s, e, 0.9) for s, e, t in text_entities]
    prediction = Prediction([("transfer_money", 0.41), ("greeting", 0.2)], [], 9.5, is_ood=ood)
    return Analysis(prediction, entities, Escalation(True, "out_of_distribution", "frontier_standard"), None, "v1")


def counted(path: Path, **settings) -> tuple[ReviewCapture, Metrics]:
    metrics = Metrics()
    cap = ReviewCapture(CaptureSettings(path, **settings), metrics.captured.inc, metrics.capture_dropped)
    return cap, metrics


def test_file_is_created_private_and_stays_private_when_rotated(tmp_path: Path):
    path = tmp_path / "review.jsonl"
    old_umask = os.umask(0)  # the mode must not depend on a permissive umask
    try:
        cap, metrics = counted(path, max_bytes=1024, backups=2)
        for i in range(12):
            cap.offer(f"what is the weather in city number {i}", escalated())
        cap.close()
    finally:
        os.umask(old_umask)
    files = sorted(tmp_path.iterdir())
    assert [f.name for f in files] == ["review.jsonl", "review.jsonl.1", "review.jsonl.2"]
    assert all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in files)
    assert cap.written == 12 and cap.dropped == 0 and metrics.value("intentd_review_captured_total") == 12


def test_an_existing_world_readable_file_is_made_private(tmp_path: Path):
    path = tmp_path / "review.jsonl"
    path.write_text("")
    path.chmod(0o644)
    cap = ReviewCapture(CaptureSettings(path))
    cap.offer("hello?", escalated())
    cap.close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and len(read_jsonl(path)) == 1


def test_a_symlink_at_the_path_is_refused_not_followed(tmp_path: Path, caplog):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    path = tmp_path / "review.jsonl"
    path.symlink_to(victim)
    with pytest.raises(CaptureError, match="it is a symbolic link"):  # at start
        counted(path)
    path.unlink()
    cap, metrics = counted(path)
    path.unlink()
    path.symlink_to(victim)  # once serving
    with caplog.at_level(logging.WARNING, logger="intentd.server.capture"):
        for _ in range(3):
            assert cap.offer("my card number is 4111 1111 1111 1111", escalated())
        cap.close()
    assert victim.read_text() == "precious\n" and path.is_symlink()
    assert cap.written == 0 and cap.dropped_by_reason["unsafe_path"] == 3
    assert metrics.value("intentd_review_capture_dropped_total", {"reason": "unsafe_path"}) == 3
    assert metrics.value("intentd_review_captured_total") == 0
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "symbolic link" in warnings[0].getMessage()  # one line, not one per record
    assert not [r for r in caplog.records if r.exc_info]  # no traceback


def test_a_file_planted_by_another_user_is_never_written(tmp_path: Path, caplog):
    """In a shared directory another user made review.jsonl 0666 before the server started: it
    was written, customers' words and all, for that user to read. Then it was accepted at start
    and every record dropped: refused at start now, and never written if planted later."""
    path = tmp_path / "review.jsonl"

    def plant() -> None:
        path.touch(mode=0o666)
        try:
            os.chown(path, 65534, 65534)  # nobody
        except PermissionError:
            pytest.skip("making a file another user's needs root")
        os.chmod(path, 0o666)

    plant()
    with pytest.raises(CaptureError, match=f"^--capture-path {path}: it belongs to another user"):
        counted(path)
    path.unlink()
    cap, _ = counted(path)
    path.unlink()
    plant()  # once serving
    with caplog.at_level(logging.WARNING, logger="intentd.server.capture"):
        assert cap.offer("my account 12345678, jane@example.com", escalated())
        cap.close()
    assert path.read_bytes() == b"" and cap.written == 0 and cap.dropped_by_reason["unsafe_path"] == 1
    assert any("belongs to another user" in r.getMessage() for r in caplog.records)


def test_a_hard_link_at_the_path_is_refused(tmp_path: Path):
    """A hard link at the capture path to a file elsewhere on the file system: the server made
    that file 0600 and appended customers' words to it (a co-tenant's link to a root-owned file,
    where the kernel lets users link files they do not own)."""
    victim = tmp_path / "app.conf"
    victim.write_text("setting = 1\n")
    os.chmod(victim, 0o644)
    path = tmp_path / "review.jsonl"
    os.link(victim, path)
    with pytest.raises(CaptureError, match="it is a hard link"):  # at start
        counted(path)
    path.unlink()
    cap, _ = counted(path)
    path.unlink()
    os.link(victim, path)  # once serving
    cap.offer("my account 12345678", escalated())
    cap.close()
    assert victim.read_text() == "setting = 1\n" and stat.S_IMODE(victim.stat().st_mode) == 0o644
    assert cap.written == 0 and cap.dropped_by_reason["unsafe_path"] == 1


def test_a_symlink_at_a_rotated_name_is_replaced_not_followed(tmp_path: Path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    path = tmp_path / "review.jsonl"
    (tmp_path / "review.jsonl.1").symlink_to(victim)
    cap = ReviewCapture(CaptureSettings(path, max_bytes=1024, backups=1))
    for i in range(8):
        cap.offer(f"what is the weather in city number {i}", escalated())
    cap.close()
    assert victim.read_text() == "precious\n"
    rotated = tmp_path / "review.jsonl.1"
    assert not rotated.is_symlink() and stat.S_IMODE(rotated.stat().st_mode) == 0o600
    assert cap.written == 8 and len(read_jsonl(rotated)) + len(read_jsonl(path)) <= 8


def test_a_fifo_at_the_path_neither_blocks_nor_is_written(tmp_path: Path):
    path = tmp_path / "review.jsonl"
    os.mkfifo(path)
    with pytest.raises(CaptureError, match="not a regular file"):  # at start
        ReviewCapture(CaptureSettings(path))
    path.unlink()
    cap = ReviewCapture(CaptureSettings(path))
    path.unlink()
    os.mkfifo(path)  # once serving
    cap.offer("hello?", escalated())
    cap.close()  # returns: the writer did not block opening a FIFO that has no reader
    assert cap.dropped_by_reason["unsafe_path"] == 1 and cap.written == 0


def test_a_failed_write_is_cut_back_and_the_next_record_starts_clean(tmp_path: Path):
    """A real partial write: the kernel writes up to the file size limit, then refuses (EFBIG)."""
    path = tmp_path / "review.jsonl"
    proc = subprocess.run([sys.executable, str(CHILD), "fsize", str(path)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["texts"] == ["short record one", "short record two"]  # read_jsonl accepted the file
    assert out["ends_with_newline"]
    assert (out["written"], out["dropped"]["write_error"]) == (2, 1)
    assert out["metric_written"] == 2 and out["metric_dropped"]["write_error"] == 1
    assert "File too large" in proc.stderr and proc.stderr.count("cannot write") == 1
    imported = tmp_path / "imported"
    proc = subprocess.run([sys.executable, "-m", "intentd", "data", "import", "--format", "jsonl", str(path),
                           "--out", str(imported)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_a_full_disk_drops_records_and_keeps_the_file_readable(tmp_path: Path):
    """ENOSPC from a real 64 KiB tmpfs, mounted in a private user and mount namespace."""
    if shutil.which("unshare") is None or shutil.which("mount") is None:
        pytest.skip("needs unshare and mount (util-linux) for a private tmpfs")
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    script = (f"mount -t tmpfs -o size=64k tmpfs {shlex.quote(str(mnt))} || exit 77; "
              f"exec {shlex.quote(sys.executable)} {shlex.quote(str(CHILD))} fill {shlex.quote(str(mnt / 'review.jsonl'))}")
    proc = subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", script],
                          capture_output=True, text=True)
    if proc.returncode == 77 or "unshare failed" in proc.stderr or "Operation not permitted" in proc.stderr:
        pytest.skip(f"cannot mount a private tmpfs here: {proc.stderr.strip()[:200]}")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    written = [int(t.split()[1]) for t in out["texts"]]
    assert len(written) == out["written"] == out["metric_written"] > 1
    assert out["dropped"]["write_error"] == out["metric_dropped"]["write_error"] == 401 - len(written) > 0
    assert written[-1] == 400 and out["texts"][-1] == "record 400 after space was freed"  # after the failures
    assert out["ends_with_newline"] and "No space left on device" in proc.stderr


# -- redaction ---------------------------------------------------------------------------------------

def test_redaction_covers_emails_and_spoken_digits_and_moves_entities(tmp_path: Path):
    text = "mail Tom.H@work.example.com or tom at work dot com, call four one five five five oh one two, card 4111"
    spans = [(5, 27, "email"), (31, 50, "email"), (57, 91, "phone"), (98, 102, "card")]
    path = tmp_path / "review.jsonl"
    cap = ReviewCapture(CaptureSettings(path, redact_digits=True))
    cap.offer(text, escalated(spans, ood=False))
    cap.close()
    (row,) = read_jsonl(path)  # offsets valid for the redacted text
    assert row.text == "mail <email> or <email>, call zero zero zero zero zero zero zero zero, card 0000"
    assert [(row.text[s.start:s.end], s.type) for s in row.entities] == [
        ("<email>", "email"), ("<email>", "email"), ("zero zero zero zero zero zero zero zero", "phone"),
        ("0000", "card")]
    assert row.meta["redacted"] is True


@pytest.mark.parametrize("text, redacted", [
    ("my number is four one five, five five five, oh one three four",
     "my number is zero zero zero, zero zero zero, zero zero zero zero"),
    ("double five nine two", "double zero zero zero"),
    ("triple seven", "triple zero"),
    ("one or two things at five o'clock", "one or two things at five o'clock"),  # words, not a number
    ("someone two three", "someone two three"),
    ("pay 4 one five", "pay 0 zero zero"),
    ("write to jane_doe+bank@mail.co.uk now", "write to <email> now"),
    # numbers as people say them, and addresses half spoken: both once went to the file as said
    ("my card is forty one eleven eleven eleven", "my card is zero zero zero zero zero"),
    ("call four fifteen five five five", "call zero zero zero zero zero"),
    ("transfer fifty dollars", "transfer fifty dollars"),  # one number word is not a number read out
    ("email tom at gmail.com please", "email <email> please"),
    ("tom (at) gmail (dot) com", "<email>"),
    ("tom @ gmail . com", "<email>"),
    ("tom\uff20gmail.com", "<email>"),
    ("I'm at home. ok", "I'm at home. ok"),
    ("pin \u2460\u2461\u2462 and \u00b9\u00b2\u00b3", "pin 000 and 000"),
    # German (de-DE is served), and digits as an ASR may punctuate them: all went to the file as said
    ("Karte vier eins eins eins vier eins eins eins fünf fünf fünf fünf, bitte",
     "Karte zero zero zero zero zero zero zero zero zero zero zero zero, bitte"),
    ("Nummer null acht neun, dreiundvierzig zwo", "Nummer zero zero zero, zero zero"),
    ("E-Mail an tom punkt meier at gmx punkt de", "E-Mail an <email>"),
    ("card four. one. one. one. five.", "card zero. zero. zero. zero. zero."),
    ("four/one/one/one", "zero/zero/zero/zero"),
    ("fuenf sechs sieben", "zero zero zero"),
    # a four-digit number read as two pairs: a year, a card's last four, a PIN
    ("born in nineteen eighty", "born in zero zero"),
    ("card ending in eleven eleven", "card ending in zero zero"),
    ("PIN zwölf vierunddreißig", "PIN zero zero"),
    # a German number written as one word counts its parts; "thousand", "million" are number words
    ("Kontonummer einhundertdreiundzwanzig vierhundertsechsundfünfzig", "Kontonummer zero zero"),
    ("geboren neunzehnhundertvierundachtzig", "geboren zero"),
    ("zweitausendvierhundert", "zero"),
    ("card number three million four hundred thousand", "card number zero zero zero zero zero"),
    ("dreihundert Euro", "dreihundert Euro"),  # as "three hundred" stays
    ("in Einsiedeln", "in Einsiedeln"),
    # one or two number words that are not two pairs stay readable
    ("forty one dollars", "forty one dollars"),
    ("one hundred dollars", "one hundred dollars"),
    ("I need two. One for me", "I need two. One for me"),
    ("überweise fünfzig Euro in zwei oder drei Tagen", "überweise fünfzig Euro in zwei oder drei Tagen"),
    ("um acht Uhr, elf Leute", "um acht Uhr, elf Leute"),
])
def test_redaction_cases(text, redacted):
    assert redact(text, [])[0] == redacted


def test_redaction_knows_the_number_words_of_every_language_served():
    """German callers' numbers went to the file as said: the words were English only."""
    assert {tag.split("-")[0] for tag in SUPPORTED} <= set(NUMBER_WORDS)


def test_a_path_no_record_can_be_written_to_is_refused_at_start(tmp_path: Path):
    """A directory was accepted ("capturing ... to DIR"), then every record dropped; a path under
    a regular file exited with "[Errno 17] File exists", naming neither the flag nor the problem."""
    (tmp_path / "a-folder").mkdir()
    (tmp_path / "a-file").write_text("")
    for path, says in ((tmp_path / "a-folder", "not a regular file"),
                       (tmp_path / "a-file" / "review.jsonl", "cannot write there")):
        with pytest.raises(CaptureError, match=f"^--capture-path {path}: {says}"):
            ReviewCapture(CaptureSettings(path))


def test_redacted_spans_never_split_a_replacement():
    text = "email tom@work.com please"
    # a span that starts inside the address and one that ends inside it
    got, moved = redact(text, [(10, 18), (0, 9), (19, 25)])
    assert got == "email <email> please"
    assert [got[s:e] for s, e in moved] == ["<email>", "email <email>", "please"]


def test_two_writers_on_one_file_keep_every_record_they_count(tmp_path: Path):
    """`serve --workers 2 --capture-path`: each worker checked the size and rotated on its own, so
    two rotating at once overwrote the backup the other had just made (300 records counted, 296 in
    the files). Two captures of one path, each with its own open file as two workers have (a file
    lock belongs to an open file, not a process), and a tiny bound: every record counted as
    written is in the files, once."""
    path = tmp_path / "review.jsonl"
    caps = [counted(path, max_bytes=1024, backups=200)[0] for _ in range(2)]
    for i in range(100):
        for n, cap in enumerate(caps):
            cap.offer(f"writer {n} record {i}", escalated())
    for cap in caps:
        cap.close()
    texts = [row.text for f in tmp_path.glob("review.jsonl*") for row in read_jsonl(f)]
    assert [cap.written for cap in caps] == [100, 100] and not any(cap.dropped for cap in caps)
    assert len(list(tmp_path.glob("review.jsonl.*"))) > 20  # it rotated, many times
    assert sorted(texts) == sorted(f"writer {n} record {i}" for n in range(2) for i in range(100))
