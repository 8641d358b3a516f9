"""A small obs-websocket 5 client: OBS Studio's remote control, built into OBS 28 and later.

Standard library only. JSON messages over an RFC 6455 WebSocket: OBS says Hello (with an
authentication challenge when a password is set), the client Identifies, then each Request
gets a RequestResponse with the same id. Enough to set a Text source's text and send a
caption into the stream; see
https://github.com/obsproject/obs-websocket/blob/master/docs/generated/protocol.md
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import socket
import struct
import urllib.parse

DEFAULT_URL = "ws://127.0.0.1:4455"  # OBS's default WebSocket server address
RPC_VERSION = 1
# Op codes (protocol.md, "WebSocketOpCode").
HELLO, IDENTIFY, IDENTIFIED, REQUEST, REQUEST_RESPONSE = 0, 1, 2, 6, 7
# Close codes and request status codes OBS uses for the errors a user can fix.
CLOSE_AUTHENTICATION_FAILED = 4009
OUTPUT_NOT_RUNNING = 501
RESOURCE_NOT_FOUND = 600
TEXT_INPUT_KINDS = ("text_ft2_source", "text_gdiplus")  # unversioned kinds of OBS's Text sources
_OPCODE_TEXT, _OPCODE_CLOSE, _OPCODE_PING, _OPCODE_PONG = 0x1, 0x8, 0x9, 0xA


class ObsError(Exception):
    """OBS cannot be reached, refused us, or cannot do what was asked."""


class ObsRequestError(ObsError):
    """A request OBS answered with a failed status; `code` is its RequestStatus code."""

    def __init__(self, request_type: str, code: int, comment: str) -> None:
        super().__init__(f"{request_type} failed ({code}): {comment or 'no comment'}")
        self.code = code


class ObsWebSocket:
    """One identified connection to OBS; use as a context manager, or call close()."""

    def __init__(self, url: str = DEFAULT_URL, password: str | None = None,
                 timeout: float = 10.0) -> None:
        parsed = urllib.parse.urlsplit(url if "://" in url else f"ws://{url}")
        if parsed.scheme != "ws" or not parsed.hostname:
            raise ObsError(f"{url}: not an obs-websocket address (ws://HOST:PORT)")
        self.url = f"ws://{parsed.hostname}:{parsed.port or 4455}"
        try:
            self._sock = socket.create_connection((parsed.hostname, parsed.port or 4455), timeout)
        except OSError as exc:
            raise ObsError(f"cannot connect to OBS at {self.url} ({exc.strerror or exc}): is OBS "
                           "running with its WebSocket server on (Tools > WebSocket Server "
                           "Settings)?") from None
        self._ids = 0
        try:
            self._handshake(parsed.hostname, parsed.port or 4455)
            self._identify(password)
        except BaseException:
            self._sock.close()
            raise

    def __enter__(self) -> "ObsWebSocket":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._sock.close()

    def request(self, request_type: str, data: dict | None = None) -> dict:
        """Sends a request and returns its responseData; ObsRequestError on a failed status."""
        self._ids += 1
        request_id = str(self._ids)
        self._send({"op": REQUEST, "d": {"requestType": request_type, "requestId": request_id,
                                         "requestData": data or {}}})
        while True:
            message = self._receive()
            if message["op"] == REQUEST_RESPONSE and message["d"]["requestId"] == request_id:
                status = message["d"]["requestStatus"]
                if not status["result"]:
                    raise ObsRequestError(request_type, status["code"], status.get("comment", ""))
                return message["d"].get("responseData") or {}

    def text_source_settings(self, name: str) -> dict:
        """The settings of the Text source `name`; ObsError naming the problem otherwise."""
        try:
            reply = self.request("GetInputSettings", {"inputName": name})
        except ObsRequestError as exc:
            if exc.code == RESOURCE_NOT_FOUND:
                raise ObsError(f"OBS has no source named {name!r}") from None
            raise
        kind = reply.get("inputKind", "")
        if not kind.startswith(TEXT_INPUT_KINDS):
            raise ObsError(f"OBS source {name!r} is a {kind}, not a Text source")
        return reply["inputSettings"]

    def set_text(self, name: str, text: str) -> None:
        """Sets the text of the Text source `name`, leaving its other settings alone."""
        self.request("SetInputSettings", {"inputName": name, "inputSettings": {"text": text},
                                          "overlay": True})

    def send_stream_caption(self, text: str) -> bool:
        """Sends a caption into the stream (CEA-608); False when OBS is not streaming."""
        try:
            self.request("SendStreamCaption", {"captionText": text})
        except ObsRequestError as exc:
            if exc.code == OUTPUT_NOT_RUNNING:
                return False
            raise
        return True

    def _handshake(self, host: str, port: int) -> None:
        key = base64.b64encode(os.urandom(16)).decode()
        self._send_raw((f"GET / HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                        "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: obswebsocket.json\r\n"
                        "\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            head += self._exactly(1)  # byte by byte: OBS's first frame may follow at once
        status = head.split(b"\r\n")[0]
        if b" 101 " not in status:
            raise ObsError(f"{self.url} is not an obs-websocket server: {status.decode(errors='replace')}")

    def _identify(self, password: str | None) -> None:
        hello = self._receive()
        if hello["op"] != HELLO:
            raise ObsError(f"{self.url}: expected Hello from obs-websocket, got op {hello['op']}")
        identify = {"rpcVersion": RPC_VERSION, "eventSubscriptions": 0}
        challenge = hello["d"].get("authentication")
        if challenge:
            if not password:
                raise ObsError(f"OBS at {self.url} asks for a password")
            identify["authentication"] = authentication(password, challenge["salt"],
                                                        challenge["challenge"])
        self._send({"op": IDENTIFY, "d": identify})
        try:
            identified = self._receive()
        except ObsClosed as exc:
            if exc.code == CLOSE_AUTHENTICATION_FAILED:
                raise ObsError(f"OBS at {self.url} refused the password") from None
            raise
        if identified["op"] != IDENTIFIED:
            raise ObsError(f"{self.url}: expected Identified from obs-websocket, got op {identified['op']}")

    def _send(self, message: dict, opcode: int = _OPCODE_TEXT) -> None:
        payload = json.dumps(message).encode() if opcode == _OPCODE_TEXT else message
        mask = os.urandom(4)  # a client masks every frame
        if len(payload) < 126:  # lengths must use the shortest of the three encodings
            header = struct.pack("!BB", 0x80 | opcode, 0x80 | len(payload))
        elif len(payload) < 1 << 16:
            header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, len(payload))
        else:
            header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, len(payload))
        self._send_raw(header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

    def _send_raw(self, data: bytes) -> None:
        try:
            self._sock.sendall(data)
        except OSError as exc:
            raise ObsClosed(None, f"lost the connection to OBS at {self.url} ({exc})") from None

    def _receive(self) -> dict:
        """The next JSON message (OBS sends each one whole, in one text frame)."""
        while True:
            first, second = self._exactly(2)
            length = second & 0x7F
            if length == 126:
                length = struct.unpack("!H", self._exactly(2))[0]
            elif length == 127:
                length = struct.unpack("!Q", self._exactly(8))[0]
            payload = self._exactly(length)
            opcode = first & 0x0F
            if opcode == _OPCODE_TEXT:
                return json.loads(payload)
            if opcode == _OPCODE_PING:
                self._send(payload, _OPCODE_PONG)
            elif opcode == _OPCODE_CLOSE:
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
                reason = payload[2:].decode(errors="replace")
                raise ObsClosed(code, f"OBS at {self.url} closed the connection ({code}: {reason})")

    def _exactly(self, count: int) -> bytes:
        data = b""
        while len(data) < count:
            try:
                chunk = self._sock.recv(count - len(data))
            except OSError as exc:
                raise ObsClosed(None, f"lost the connection to OBS at {self.url} ({exc})") from None
            if not chunk:
                raise ObsClosed(None, f"OBS at {self.url} closed the connection")
            data += chunk
        return data


class ObsClosed(ObsError):
    """The connection ended; `code` is OBS's WebSocket close code when it sent one."""

    def __init__(self, code: int | None, message: str) -> None:
        super().__init__(message)
        self.code = code


def authentication(password: str, salt: str, challenge: str) -> str:
    """The Identify `authentication` string: base64(sha256(base64(sha256(password + salt)) + challenge))."""
    secret = base64.b64encode(hashlib.sha256((password + salt).encode()).digest())
    return base64.b64encode(hashlib.sha256(secret + challenge.encode()).digest()).decode()
