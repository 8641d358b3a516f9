"""A small obs-websocket 5 client: OBS Studio's remote control, built into OBS 28 and later.

JSON messages over a WebSocket (the `websockets` library's synchronous client): OBS says Hello
(with an authentication challenge when a password is set), the client Identifies, then each
Request gets a RequestResponse with the same id. Enough to set a Text source's text and send a
caption into the stream; see
https://github.com/obsproject/obs-websocket/blob/master/docs/generated/protocol.md
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import urllib.parse

from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI
from websockets.sync.client import ClientConnection, connect

DEFAULT_URL = "ws://127.0.0.1:4455"  # OBS's default WebSocket server address
RPC_VERSION = 1
# Op codes (protocol.md, "WebSocketOpCode").
HELLO, IDENTIFY, IDENTIFIED, REQUEST, REQUEST_RESPONSE = 0, 1, 2, 6, 7
# Close codes and request status codes OBS uses for the errors a user can fix.
CLOSE_AUTHENTICATION_FAILED = 4009
OUTPUT_NOT_RUNNING = 501
RESOURCE_NOT_FOUND = 600
TEXT_INPUT_KINDS = ("text_ft2_source", "text_gdiplus")  # unversioned kinds of OBS's Text sources
SUBPROTOCOL = "obswebsocket.json"


class ObsError(Exception):
    """OBS cannot be reached, refused us, or cannot do what was asked."""


class ObsRequestError(ObsError):
    """A request OBS answered with a failed status; `code` is its RequestStatus code."""

    def __init__(self, request_type: str, code: int, comment: str) -> None:
        super().__init__(f"{request_type} failed ({code}): {comment or 'no comment'}")
        self.code = code


class ObsWebSocket:
    """One identified connection to OBS; use as a context manager, or call close()."""

    def __init__(self, url: str = DEFAULT_URL, password: str | None = None, timeout: float = 10.0) -> None:
        parsed = urllib.parse.urlsplit(url if "://" in url else f"ws://{url}")
        if parsed.scheme != "ws" or not parsed.hostname:
            raise ObsError(f"{url}: not an obs-websocket address (ws://HOST:PORT)")
        self.url = f"ws://{parsed.hostname}:{parsed.port or 4455}"
        self.timeout = timeout
        # The connection lives as long as this object; websockets wants it entered as a context.
        self._connection = contextlib.ExitStack()
        try:
            self._ws: ClientConnection = self._connection.enter_context(
                connect(self.url, subprotocols=[SUBPROTOCOL], open_timeout=timeout, close_timeout=timeout, proxy=None)
            )
        except (OSError, TimeoutError) as exc:
            raise ObsError(
                f"cannot connect to OBS at {self.url} ({getattr(exc, 'strerror', None) or exc}): "
                "is OBS running with its WebSocket server on (Tools > WebSocket Server "
                "Settings)?"
            ) from None
        except (InvalidHandshake, InvalidURI) as exc:
            raise ObsError(f"{self.url} is not an obs-websocket server: {exc}") from None
        self._ids = 0
        try:
            self._identify(password)
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> ObsWebSocket:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._connection.close()

    def request(self, request_type: str, data: dict | None = None) -> dict:
        """Sends a request and returns its responseData; ObsRequestError on a failed status."""
        self._ids += 1
        request_id = str(self._ids)
        self._send(
            {"op": REQUEST, "d": {"requestType": request_type, "requestId": request_id, "requestData": data or {}}}
        )
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
        self.request("SetInputSettings", {"inputName": name, "inputSettings": {"text": text}, "overlay": True})

    def send_stream_caption(self, text: str) -> bool:
        """Sends a caption into the stream (CEA-608); False when OBS is not streaming."""
        try:
            self.request("SendStreamCaption", {"captionText": text})
        except ObsRequestError as exc:
            if exc.code == OUTPUT_NOT_RUNNING:
                return False
            raise
        return True

    def _identify(self, password: str | None) -> None:
        hello = self._receive()
        if hello["op"] != HELLO:
            raise ObsError(f"{self.url}: expected Hello from obs-websocket, got op {hello['op']}")
        identify = {"rpcVersion": RPC_VERSION, "eventSubscriptions": 0}
        challenge = hello["d"].get("authentication")
        if challenge:
            if not password:
                raise ObsError(f"OBS at {self.url} asks for a password")
            identify["authentication"] = authentication(password, challenge["salt"], challenge["challenge"])
        self._send({"op": IDENTIFY, "d": identify})
        try:
            identified = self._receive()
        except ObsClosed as exc:
            if exc.code == CLOSE_AUTHENTICATION_FAILED:
                raise ObsError(f"OBS at {self.url} refused the password") from None
            raise
        if identified["op"] != IDENTIFIED:
            raise ObsError(f"{self.url}: expected Identified from obs-websocket, got op {identified['op']}")

    def _send(self, message: dict) -> None:
        try:
            self._ws.send(json.dumps(message))
        except ConnectionClosed as exc:
            raise self._closed(exc) from None

    def _receive(self) -> dict:
        """The next JSON message (OBS sends each one whole, in one text frame)."""
        try:
            return json.loads(self._ws.recv(timeout=self.timeout))
        except ConnectionClosed as exc:
            raise self._closed(exc) from None
        except TimeoutError:
            raise ObsClosed(None, f"OBS at {self.url} did not answer in {self.timeout:g} s") from None

    def _closed(self, exc: ConnectionClosed) -> ObsClosed:
        if exc.rcvd is None:
            return ObsClosed(None, f"lost the connection to OBS at {self.url}")
        code, reason = exc.rcvd.code, exc.rcvd.reason
        return ObsClosed(code, f"OBS at {self.url} closed the connection ({code}: {reason})")


class ObsClosed(ObsError):
    """The connection ended; `code` is OBS's WebSocket close code when it sent one."""

    def __init__(self, code: int | None, message: str) -> None:
        super().__init__(message)
        self.code = code


def authentication(password: str, salt: str, challenge: str) -> str:
    """The Identify `authentication` string: base64(sha256(base64(sha256(password + salt)) + challenge))."""
    secret = base64.b64encode(hashlib.sha256((password + salt).encode()).digest())
    return base64.b64encode(hashlib.sha256(secret + challenge.encode()).digest()).decode()
