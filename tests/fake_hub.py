"""A loopback HTTP server that answers downloads as the Hugging Face hub does, for
HF_ENDPOINT: a repository's revision and file tree, and each file by /resolve/ with the hub's
headers (the commit, and the checksum a blob is named by) and Range requests. It can cut a
file's first transfer halfway, or serve a file whose content differs from its checksum.
"""

from __future__ import annotations

import dataclasses
import hashlib
import http.server
import json
import pathlib
import threading
import time
import urllib.parse

LFS_FROM_BYTES = 1024  # larger files are served as LFS files (named by their SHA-256)
SLOW_BYTES_PER_SECOND = 8 << 20


@dataclasses.dataclass
class Repo:
    commit: str
    files: dict[str, bytes]

    def is_lfs(self, path: str) -> bool:
        return len(self.files[path]) >= LFS_FROM_BYTES

    def etag(self, path: str) -> str:
        data = self.files[path]
        if self.is_lfs(path):
            return hashlib.sha256(data).hexdigest()
        return hashlib.sha1(f"blob {len(data)}\0".encode() + data).hexdigest()


class FakeHub:
    def __init__(self) -> None:
        self.repos: dict[str, Repo] = {}
        self.cut_once: set[str] = set()  # files whose first full transfer stops halfway
        self.corrupt: set[str] = set()  # files served with one byte changed
        self.slow: set[str] = set()  # files served at SLOW_BYTES_PER_SECOND
        self.claimed_sizes: dict[str, int] = {}  # files listed as smaller than they are
        self.requests: list[tuple[str, str, str]] = []  # (method, path, Range header)
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def add(self, repo_id: str, folder: pathlib.Path) -> Repo:
        files = {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}
        commit = hashlib.sha1(repo_id.encode() + b"".join(files.values())).hexdigest()
        self.repos[repo_id] = Repo(commit, files)
        return self.repos[repo_id]

    def __enter__(self) -> FakeHub:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()


def _handler(hub: FakeHub):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:
            pass

        def do_HEAD(self) -> None:
            self._answer(body=False)

        def do_GET(self) -> None:
            self._answer(body=True)

        def _answer(self, body: bool) -> None:
            hub.requests.append((self.command, self.path, self.headers.get("Range", "")))
            path = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)
            if path.startswith("/api/models/"):
                return self._api(path.removeprefix("/api/models/"))
            parts = path.lstrip("/").split("/", 4)  # org, name, "resolve", revision, file
            if len(parts) == 5 and parts[2] == "resolve":
                return self._file(f"{parts[0]}/{parts[1]}", parts[4], body)
            self._json(404, {"error": "not found"}, error_code="EntryNotFound")

        def _api(self, rest: str) -> None:
            org, name, kind, *after = rest.split("/", 4) + [""]
            repo = hub.repos.get(f"{org}/{name}")
            if repo is None:
                return self._json(404, {"error": "Repository not found"}, error_code="RepoNotFound")
            if kind == "revision":
                siblings = [{"rfilename": f} for f in repo.files]
                return self._json(
                    200, {"id": f"{org}/{name}", "sha": repo.commit, "siblings": siblings, "private": False}
                )
            if kind == "tree":
                tree = []
                for path, data in repo.files.items():
                    size = hub.claimed_sizes.get(path, len(data))
                    entry = {"type": "file", "path": path, "size": size, "oid": repo.etag(path)}
                    if repo.is_lfs(path):
                        entry["oid"] = hashlib.sha1(path.encode()).hexdigest()  # the pointer's, unused
                        entry["lfs"] = {"oid": repo.etag(path), "size": size, "pointerSize": 134}
                    tree.append(entry)
                return self._json(200, tree)
            self._json(404, {"error": "not found"})

        def _file(self, repo_id: str, file: str, body: bool) -> None:
            repo = hub.repos.get(repo_id)
            if repo is None or file not in repo.files:
                return self._json(404, {"error": "Entry not found"}, error_code="EntryNotFound")
            data = repo.files[file]
            if file in hub.corrupt:
                data = bytes([data[0] ^ 0xFF]) + data[1:]
            start = 0
            ranged = self.headers.get("Range", "")
            if ranged.startswith("bytes="):
                start = int(ranged.removeprefix("bytes=").split("-")[0])
            self.send_response(206 if start else 200)
            self.send_header("X-Repo-Commit", repo.commit)
            self.send_header("ETag", f'"{repo.etag(file)}"')
            if repo.is_lfs(file):
                self.send_header("X-Linked-Etag", f'"{repo.etag(file)}"')
                self.send_header("X-Linked-Size", str(hub.claimed_sizes.get(file, len(data))))
            if start:
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            self.send_header("Content-Length", str(len(data) - start))
            self.send_header("Accept-Ranges", "bytes")
            self.end_headers()
            if not body:
                return
            if file in hub.cut_once and not start:
                hub.cut_once.discard(file)
                self.wfile.write(data[: len(data) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
            if file not in hub.slow:
                self.wfile.write(data[start:])
                return
            step = SLOW_BYTES_PER_SECOND // 10
            for at in range(start, len(data), step):
                try:
                    self.wfile.write(data[at : at + step])
                except OSError:  # the client went away
                    return
                time.sleep(0.1)

        def _json(self, status: int, payload, error_code: str = "") -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if error_code:
                self.send_header("X-Error-Code", error_code)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

    return Handler
