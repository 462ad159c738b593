"""The Waterbear protocol, sans I/O: frames, the result codec, the server and client sessions.

The loopback server (``motivus_dev/loopback/server.py``), the driver client
(``motivus_dev/client.py``) and ``motivus worker`` (``motivus_dev/worker_client.py``) use
this package; none of them builds a frame or encodes a result by hand. The worker pool
(``motivus_dev/runtime/``) does not: it takes tasks and gives back decoded results. See docs/loopback.md.
"""

from motivus_dev.waterbear.client import ClientSession, HandshakeRefused, Joined, ResultEvent, parse_result
from motivus_dev.waterbear.codec import (
    EMPTY_BODY,
    check_body,
    decode_body,
    decode_output,
    encode_body,
    encode_body_json,
    encode_output,
    is_base64,
    is_wire_safe,
    result_files,
    task_value,
)
from motivus_dev.waterbear.frames import Send, failure_payload, result_frame, result_payload
from motivus_dev.waterbear.server import Close, Session, StartTask

#: The platform's cluster: drivers connect to ``wss://HOST/client_socket/websocket``,
#: workers to ``wss://HOST/socket/websocket``.
CLUSTER_HOST = "waterbear.api.motivus.cl"

__all__ = [
    "CLUSTER_HOST",
    "ClientSession",
    "Close",
    "EMPTY_BODY",
    "HandshakeRefused",
    "Joined",
    "ResultEvent",
    "Send",
    "Session",
    "StartTask",
    "check_body",
    "decode_body",
    "decode_output",
    "encode_body",
    "encode_body_json",
    "encode_output",
    "failure_payload",
    "is_base64",
    "is_wire_safe",
    "parse_result",
    "result_frame",
    "result_files",
    "result_payload",
    "task_value",
]
