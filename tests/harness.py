"""A real sidecar on a loopback port for tests: the same in-process server the CLI uses."""

from sidecar.server.inprocess import InProcessSidecar


class RunningSidecar(InProcessSidecar):
    def __init__(self, **overrides) -> None:
        super().__init__(**overrides)
        self.start()

    def call(self, coroutine, timeout: float = 120):
        return self.run(coroutine, timeout)
