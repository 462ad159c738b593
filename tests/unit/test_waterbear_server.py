"""The Waterbear server session (motivus_dev.waterbear.server), frame by frame, no I/O."""

from __future__ import annotations

import base64
import gzip
import json
import uuid
from typing import Any, Dict, List

import pytest

from motivus_dev.waterbear import (
    Close,
    Send,
    Session,
    StartTask,
    decode_output,
    encode_output,
    failure_payload,
    result_frame,
    result_payload,
)
from motivus_dev.waterbear.server import split_big_strings, user_uuid_for


def sent(actions: List[Any]) -> List[Dict[str, Any]]:
    return [a.frame for a in actions if isinstance(a, Send)]


def j(obj: Any) -> str:
    return json.dumps(obj)


def handshake(session: Session) -> str:
    """Run steps 1-3 as the 2.4.0 client does; return the channel topic."""
    [reply] = sent(session.handle(j({"topic": "room:client?", "event": "phx_join", "payload": {}, "ref": "uuid"})))
    channel = f"room:client:{reply['payload']['response']['uuid']}:{uuid.uuid4()}"
    session.handle(j({"topic": "room:client?", "event": "phx_leave", "payload": {}, "ref": None}))
    session.handle(j({"topic": channel, "event": "phx_join", "payload": {}, "ref": "join"}))
    return channel


def task_frame(channel: str, ref: str = "t1", **body: Any) -> str:
    full = {
        "run_type": "wasm",
        "params": [1, 2],
        "arguments": None,
        "preload_files": None,
        "result_files": None,
        "wasm": "AGFzbQEAAAA=",
        "loader": base64.b64encode(b"//").decode(),
        "data_link": None,
    }
    full.update(body)
    return j(
        {
            "topic": channel,
            "event": "task",
            "ref": None,
            "payload": {"ref": ref, "client_id": "x", "type": "trusted_work", "body": full},
        }
    )


def test_step1_lobby_join_replies_with_the_token_user_uuid() -> None:
    session = Session("my-token")
    [reply] = sent(session.handle(j({"topic": "room:client?", "event": "phx_join", "payload": {}, "ref": "uuid"})))
    assert reply["ref"] == "uuid"
    assert reply["event"] == "phx_reply"
    assert reply["payload"]["status"] == "ok"
    assert reply["payload"]["response"]["uuid"] == user_uuid_for("my-token")
    assert str(uuid.UUID(reply["payload"]["response"]["uuid"])) == reply["payload"]["response"]["uuid"]


def test_user_uuid_is_deterministic_per_token() -> None:
    assert user_uuid_for("a") == user_uuid_for("a")
    assert user_uuid_for("a") != user_uuid_for("b")


def test_step2_leave_gets_exactly_one_frame_with_an_event() -> None:
    session = Session("t")
    session.handle(j({"topic": "room:client?", "event": "phx_join", "payload": {}, "ref": "uuid"}))
    frames = sent(session.handle(j({"topic": "room:client?", "event": "phx_leave", "payload": {}, "ref": None})))
    assert len(frames) == 1 and "event" in frames[0]


def test_step3_channel_join_ok_with_ref_join() -> None:
    session = Session("t")
    [reply] = sent(session.handle(j({"topic": "room:client?", "event": "phx_join", "payload": {}, "ref": "uuid"})))
    channel = f"room:client:{reply['payload']['response']['uuid']}:{uuid.uuid4()}"
    session.handle(j({"topic": "room:client?", "event": "phx_leave", "payload": {}, "ref": None}))
    [join] = sent(session.handle(j({"topic": channel, "event": "phx_join", "payload": {}, "ref": "join"})))
    assert join["ref"] == "join" and join["payload"]["status"] == "ok" and join["topic"] == channel
    assert session.channel == channel


def test_bad_token_is_unauthorized_at_the_channel_join() -> None:
    session = Session("wrong", authorize=lambda token: token == "right")
    [reply] = sent(session.handle(j({"topic": "room:client?", "event": "phx_join", "payload": {}, "ref": "uuid"})))
    channel = f"room:client:{reply['payload']['response']['uuid']}:{uuid.uuid4()}"
    [join] = sent(session.handle(j({"topic": channel, "event": "phx_join", "payload": {}, "ref": "join"})))
    assert join["ref"] == "join"
    assert join["payload"] == {"status": "error", "response": {"reason": "unauthorized"}}
    assert session.channel is None
    # and a task on that topic is not started
    assert not [a for a in session.handle(task_frame(channel)) if isinstance(a, StartTask)]


def test_allowed_token_joins() -> None:
    session = Session("right", authorize=lambda token: token == "right")
    assert session.channel is None
    assert handshake(session) == session.channel


def test_join_of_another_users_channel_is_refused() -> None:
    session = Session("t")
    other = f"room:client:{user_uuid_for('someone else')}:{uuid.uuid4()}"
    [reply] = sent(session.handle(j({"topic": other, "event": "phx_join", "payload": {}, "ref": "join"})))
    assert reply["payload"]["status"] == "error"


def test_heartbeat_reply_has_event_and_ref() -> None:
    session = Session("t")
    [reply] = sent(session.handle(j({"topic": "phoenix", "event": "heartbeat", "payload": {}, "ref": 0})))
    assert reply == {"topic": "phoenix", "event": "phx_reply", "payload": {"status": "ok", "response": {}}, "ref": 0}


def test_task_starts_with_its_body() -> None:
    session = Session("t")
    channel = handshake(session)
    [action] = session.handle(task_frame(channel, ref="abc", params=[4, 5]))
    assert isinstance(action, StartTask)
    assert action.ref == "abc" and action.topic == channel and action.task_type == "trusted_work"
    assert action.body.params == [4, 5]


def test_task_before_join_is_refused() -> None:
    session = Session("t")
    channel = f"room:client:{user_uuid_for('t')}:{uuid.uuid4()}"
    actions = session.handle(task_frame(channel))
    assert not [a for a in actions if isinstance(a, StartTask)]
    [reply] = sent(actions)
    assert reply["payload"]["status"] == "error"


@pytest.mark.parametrize(
    "body, why",
    [
        ({"wasm": None}, "wasm"),
        ({"loader": ""}, "loader"),
        ({"params": "notalist"}, "params"),
        ({"preload_files": ["x"]}, "preload_files"),
        ({"run_type": "docker"}, "run_type"),
    ],
)
def test_bad_task_body_gets_a_decodable_failed_result(body: Dict[str, Any], why: str) -> None:
    session = Session("t")
    channel = handshake(session)
    [reply] = sent(session.handle(task_frame(channel, ref="r1", **body)))
    assert reply["event"] == "result"
    assert reply["payload"]["ref"] == "r1"
    # the platform's failure shape: body {}, base64 stderr, exitCode 1
    assert why in decode_output(reply["payload"]["stderr"])
    assert reply["payload"]["exitCode"] == 1
    decoded = json.loads(gzip.decompress(base64.b64decode(reply["payload"]["body"])))
    assert decoded == {}


@pytest.mark.parametrize(
    "raw",
    [
        "not json",
        "[1, 2]",
        "42",
        '{"topic": "x"}',
        '{"event": "x"}',
        '{"topic": 1, "event": "x"}',
        '{"topic": "phoenix", "event": "heartbeat", "payload": [1]}',
        b"\x00binary",
    ],
)
def test_malformed_frame_gets_an_error_then_close(raw: Any) -> None:
    session = Session("t")
    actions = session.handle(raw)
    assert isinstance(actions[0], Send) and actions[0].frame["event"] == "phx_error"
    assert "malformed frame" in actions[0].frame["payload"]["reason"]
    assert isinstance(actions[-1], Close)


def test_unknown_topic_and_event_get_error_replies() -> None:
    session = Session("t")
    channel = handshake(session)
    for raw in [
        j({"topic": "elsewhere", "event": "phx_join", "payload": {}, "ref": "1"}),
        j({"topic": channel, "event": "bogus", "payload": {}, "ref": "2"}),
        j({"topic": "room:client?", "event": "bogus", "payload": {}, "ref": "3"}),
    ]:
        [reply] = sent(session.handle(raw))
        assert reply["payload"]["status"] == "error"


def test_every_frame_the_session_sends_has_an_event_key() -> None:
    session = Session("t", authorize=lambda token: False)
    inputs = [
        "garbage",
        j({"topic": "phoenix", "event": "heartbeat", "payload": {}, "ref": 0}),
        j({"topic": "room:client?", "event": "phx_join", "payload": {}, "ref": "uuid"}),
        j({"topic": "room:client?", "event": "phx_leave", "payload": {}, "ref": None}),
        j(
            {
                "topic": f"room:client:{user_uuid_for('t')}:{uuid.uuid4()}",
                "event": "phx_join",
                "payload": {},
                "ref": "join",
            }
        ),
        task_frame("room:client:x:y"),
        j({"topic": "z", "event": "q", "payload": {}, "ref": None}),
    ]
    ok_session = Session("t")
    channel = handshake(ok_session)
    frames = [f for raw in inputs for f in sent(session.handle(raw))]
    frames += [
        f
        for raw in [
            task_frame(channel, wasm=""),
            j({"topic": channel, "event": "set_validation", "payload": {}, "ref": "v"}),
        ]
        for f in sent(ok_session.handle(raw))
    ]
    frames += [
        result_frame(channel, result_payload("r", "b", "", "", 0)),
        result_frame(channel, failure_payload("r", "boom")),
    ]
    assert len(frames) >= 9
    for f in frames:
        assert isinstance(f["event"], str) and f["event"]
        json.dumps(f)  # serialisable


def test_result_payload_passes_the_loaders_fields_through_as_the_platforms_worker_does() -> None:
    # {...loader's message, body encoded, ref}: stdout/stderr as posted (base64 by contract)
    out = encode_output("adding\n")
    f = result_frame("room:client:a:b", result_payload("r", "body", out, None))
    assert f["event"] == "result"
    assert f["payload"] == {"body": "body", "stdout": out, "stderr": None, "ref": "r"}
    assert "exitCode" not in f["payload"]  # only when the loader or worker set it
    assert result_payload("r", "b", "", "", 3)["exitCode"] == 3
    # 2.4.0 writes stdout/stderr to .motivus/logs with base64.b64decode: text would crash it
    assert base64.b64decode(out, validate=True) == b"adding\n"
    assert decode_output(out) == "adding\n"
    assert decode_output("plain text!") == "plain text!"
    assert decode_output(None) == ""


BIG = base64.b64encode(bytes(range(256)) * 4800).decode()  # 1.6 MiB of base64, above BIG_STRING_MIN


def test_big_text_frame_as_bytes_parses_like_its_text_and_keeps_preload_files_as_bytes() -> None:
    session = Session("t")
    channel = handshake(session)
    text = task_frame(channel, ref="big", preload_files={"/in/a.bin": BIG, "/in/b.txt": "c21hbGw="}, params=[BIG, 1])
    [action] = session.handle_text(text.encode())
    assert isinstance(action, StartTask) and action.ref == "big"
    files = action.body.preload_files
    assert files is not None
    # the big value is a slice of the frame's bytes, not a str copy; small ones stay str
    assert isinstance(files["/in/a.bin"], memoryview) and bytes(files["/in/a.bin"]) == BIG.encode()
    assert files["/in/b.txt"] == "c21hbGw="
    # anywhere else a big string is a str again, exactly as json.loads makes it
    assert action.body.params == [BIG, 1]
    expected = json.loads(text)["payload"]["body"]
    assert dict(action.body.to_wire(), preload_files=None) == dict(expected, preload_files=None)


def test_split_big_strings_leaves_keys_escaped_quotes_and_other_strings_alone() -> None:
    run = "QUJD" * 300
    key = json.dumps({run: 1, "v": run, "w": "-" + run})
    text, bigs = split_big_strings(key.encode(), 1000)
    assert list(bigs.values()) and [bytes(v) for v in bigs.values()] == [run.encode()]
    assert len(text) < len(key) and json.loads(text)[run] == 1
    escaped = json.dumps(["a\"" + run + "\"b"]).encode()  # the run sits between escaped quotes
    assert split_big_strings(escaped, 1000) == (escaped.decode(), {})


@pytest.mark.parametrize(
    "raw",
    [
        '["a"' + BIG + '"]',  # a base64 run right after a closing quote: invalid JSON
        '{"topic": "phoenix", "event": "heartbeat", "payload": ["' + BIG + '"]}',
        '{"topic": "x", "v": "' + BIG + '", }',
    ],
)
def test_big_malformed_text_frame_gets_the_same_treatment_as_a_small_one(raw: str) -> None:
    actions = Session("t").handle_text(raw.encode())
    assert actions == Session("t").handle(raw)
    assert isinstance(actions[0], Send) and "malformed frame" in actions[0].frame["payload"]["reason"]
    assert isinstance(actions[-1], Close) and actions[-1].code == 1007


@pytest.mark.parametrize("size", [10, 2 << 20])
def test_text_frame_that_is_not_utf8_closes_with_1007(size: int) -> None:
    raw = b'{"topic": "phoenix", "event": "heartbeat", "v": "' + b"A" * size + b'", "w": "\xff"}'
    [action] = Session("t").handle_text(raw)
    assert isinstance(action, Close) and action.code == 1007


def test_small_text_frame_as_bytes_is_handled_like_its_text() -> None:
    raw = j({"topic": "phoenix", "event": "heartbeat", "payload": {}, "ref": 7})
    assert Session("t").handle_text(raw.encode()) == Session("t").handle(raw)


@pytest.mark.parametrize("raw", ["[" * 100_000, '{"a":' * 100_000])
def test_deeply_nested_json_is_a_malformed_frame_not_a_crash(raw: str) -> None:
    for actions in (Session("t").handle(raw), Session("t").handle_text(raw.encode())):
        assert isinstance(actions[0], Send) and actions[0].frame["event"] == "phx_error"
        assert "nests too deeply" in actions[0].frame["payload"]["reason"]
        assert isinstance(actions[-1], Close) and actions[-1].code == 1007


@pytest.mark.parametrize(
    "body, why",
    [
        ({"run_type": "docker"}, "run_type is not wasm"),
        ({"params": "x"}, "`params` must be a list or null"),
        ({"wasm": None}, "no `wasm`"),
        ({"preload_files": ["/a"]}, "`preload_files` must be an object"),
    ],
)
def test_the_worker_runs_no_malformed_body_and_its_slot_asks_again(body: Dict[str, Any], why: str) -> None:
    from motivus_dev.waterbear.worker import Refused, RunTask, WorkerSession

    session = WorkerSession("u", slots=1)
    [_join, request] = session.start()
    tid = request.frame["payload"]["tid"]
    good = json.loads(task_frame("room:client:x:y"))["payload"]["body"]
    events = session.receive({"event": "input", "payload": {"type": "work", "tid": tid, "body": dict(good, **body)}})
    assert isinstance(events[0], Refused) and why in events[0].reason
    assert events[1].frame["event"] == "input_request"  # type: ignore[union-attr]
    [run] = session.receive({"event": "input", "payload": {"type": "work", "tid": "t2", "body": good}})
    assert isinstance(run, RunTask) and run.body.params == [1, 2] and run.body.wasm == good["wasm"]
