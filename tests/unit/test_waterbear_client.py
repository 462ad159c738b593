"""The Waterbear client session and the result codec (motivus_dev.waterbear), no I/O."""

from __future__ import annotations

import base64
import gzip
import json
from typing import Any, Dict, List

import pytest

from motivus_dev.errors import PackageError, ProtocolError
from motivus_dev.waterbear import (
    EMPTY_BODY,
    ClientSession,
    HandshakeRefused,
    Joined,
    ResultEvent,
    Send,
    Session,
    StartTask,
    decode_body,
    encode_body,
    encode_output,
    is_base64,
    result_files,
    result_frame,
    result_payload,
    task_value,
)


def test_body_codec_is_the_platform_workers_base64_gzip_json() -> None:
    body = {"data": [0, 1], "/out/a.txt": "aGk="}
    wire = encode_body(body)
    # what the 2.4.0 client does with it
    assert json.loads(gzip.decompress(base64.b64decode(wire)).decode()) == body
    assert decode_body(wire) == body
    assert decode_body(EMPTY_BODY) == {}
    assert encode_body(body) == wire  # no timestamp in the gzip header: same bytes each time


@pytest.mark.parametrize("bad", ["", "not base64!", base64.b64encode(b"not gzip").decode()])
def test_a_body_that_is_not_base64_gzip_json_is_a_clear_error(bad: str) -> None:
    with pytest.raises(PackageError, match="result body"):
        decode_body(bad)


def test_task_value_is_what_the_240_client_resolves() -> None:
    assert task_value({"data": 3}) == 3
    assert task_value({"/r.txt": "eA=="}) == {"/r.txt": "eA=="}  # a C task: its result files
    assert task_value({}) == {}
    assert task_value([1]) == [1]


def test_output_is_base64_of_utf8() -> None:
    assert encode_output("é\n") == base64.b64encode("é\n".encode()).decode()
    assert encode_output(None) is None
    assert is_base64("") and is_base64(None) and is_base64(encode_output("x"))
    assert not is_base64("plain text")


def talk(client: ClientSession, server: Session) -> List[Any]:
    """Run the handshake between the two sessions; return the client's last events."""
    events = client.start()
    while True:
        out: List[Any] = []
        for event in events:
            if isinstance(event, Joined):
                return events
            assert isinstance(event, Send)
            for action in server.handle(json.dumps(event.frame)):
                assert isinstance(action, Send)
                out.extend(client.receive(action.frame))
        events = out


def test_client_and_server_sessions_complete_the_handshake_as_the_240_client_does() -> None:
    client, server = ClientSession(), Session("tok")
    [joined] = talk(client, server)
    assert isinstance(joined, Joined)
    assert client.channel.startswith(f"room:client:{client.user_uuid}:") and server.channel == client.channel
    [start] = server.handle(json.dumps(client.task("t1", {"run_type": "wasm", "wasm": "AA==", "loader": "Lw=="})))
    assert isinstance(start, StartTask) and start.ref == "t1" and start.task_type == "trusted_work"
    assert client.task("t2", {}, public=True)["payload"]["type"] == "work"


def test_a_refused_token_stops_the_handshake_with_the_reason() -> None:
    client, server = ClientSession(), Session("bad", authorize=lambda token: False)
    with pytest.raises(HandshakeRefused) as info:
        talk(client, server)
    assert info.value.reason == "unauthorized"


def test_an_unexpected_first_reply_is_a_protocol_error() -> None:
    client = ClientSession()
    client.start()
    with pytest.raises(ProtocolError):
        client.receive({"event": "phx_reply", "ref": "other", "payload": {}})


def open_client() -> ClientSession:
    client = ClientSession()
    talk(client, Session("tok"))
    return client


def result(payload: Dict[str, Any]) -> ResultEvent:
    [event] = open_client().receive(result_frame("room:client:a:b", payload))
    assert isinstance(event, ResultEvent)
    return event


def test_a_result_decodes_body_output_and_exit_code() -> None:
    event = result(result_payload("t", encode_body({"data": [1, 2]}), encode_output("hi\n"), "", 0))
    assert event.value == [1, 2] and event.stdout == "hi\n" and event.stderr == "" and not event.failed


def test_the_platforms_failure_shape_is_a_failed_task() -> None:
    event = result(result_payload("t", EMPTY_BODY, None, encode_output("Error: boom"), 1))
    assert event.failed and event.body == {} and event.stderr == "Error: boom" and event.exit_code == 1


def test_a_platform_loader_without_exit_code_succeeds() -> None:
    event = result(result_payload("t", encode_body({"data": 5}), "", ""))
    assert event.exit_code is None and not event.failed and event.value == 5


def test_an_undecodable_body_is_reported_not_raised() -> None:
    event = result(result_payload("t", "garbage!", "", ""))
    assert event.failed and event.body_error is not None


def test_frames_other_than_results_are_ignored_once_open() -> None:
    client = open_client()
    assert client.receive({"event": "phx_reply", "topic": "phoenix", "payload": {}, "ref": 0}) == []
    assert client.receive({"event": "result", "payload": {"ref": 7}}) == []


def test_result_files_are_the_base64_keys_but_data() -> None:
    body = {"data": "aGk=", "/out/a.txt": "aGk=", "/out/bad": "not base64!", "/n": 3}
    assert result_files(body) == {"/out/a.txt": b"hi"}
    assert result_files([1]) == {} and result_files(None) == {}
