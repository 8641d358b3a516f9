"""What the server is doing, for Prometheus (the `metrics` extra, served with --metrics-port).

Counts and histograms are recorded as things happen (calls ending, live finals, model loads);
queue depth, live streams and loaded models are read from the runtime at each scrape. Each
Runtime has a registry of its own, so that servers in one process do not mix their figures.
Without prometheus-client installed every record is a no-op.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

log = logging.getLogger(__name__)

# Seconds between a word being spoken and its final caption; the goal is p50 < 2 s, p90 < 3 s.
LAG_BUCKETS = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 6.0, 10.0)
LOAD_BUCKETS = (0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0)


class Metrics:
    def __init__(self, read_state: Callable[[], dict[str, Any]]) -> None:
        """`read_state()` gives the figures read at a scrape: "running", "waiting", "live"
        ({service: streams}), "models" ([(family, name, device, bytes)])."""
        try:
            import prometheus_client as prometheus
        except ImportError:
            self.registry = None
            return
        self.registry = prometheus.CollectorRegistry()
        self._calls = prometheus.Counter(
            "sidecar_calls", "Calls ended, by method and status code", ["method", "code"], registry=self.registry
        )
        self._lag = prometheus.Histogram(
            "sidecar_live_final_lag_seconds",
            "Live captions: seconds from the end of a final's audio to its sending",
            buckets=LAG_BUCKETS,
            registry=self.registry,
        )
        self._loads = prometheus.Histogram(
            "sidecar_model_load_seconds",
            "Model loads, by family",
            ["family"],
            buckets=LOAD_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(_StateCollector(read_state))

    @property
    def enabled(self) -> bool:
        return self.registry is not None

    def call_ended(self, method: str, code: str) -> None:
        if self.registry is not None:
            self._calls.labels(method, code).inc()

    def final_lag(self, seconds: float) -> None:
        if self.registry is not None:
            self._lag.observe(seconds)

    def model_loaded(self, family: str, seconds: float) -> None:
        if self.registry is not None:
            self._loads.labels(family).observe(seconds)

    def serve(self, host: str, port: int):
        """Starts the HTTP endpoint on a thread of its own; returns a server with shutdown()."""
        if self.registry is None:
            raise RuntimeError(
                "--metrics-port needs prometheus-client: install the `metrics` extra "
                "(pip install 'audio-sidecar[metrics]')"
            )
        import prometheus_client as prometheus

        server, _ = prometheus.start_http_server(port, addr=host, registry=self.registry)
        return server


class _StateCollector:
    """Gauges read from the runtime when scraped, never stale."""

    def __init__(self, read_state: Callable[[], dict[str, Any]]) -> None:
        self._read_state = read_state

    def collect(self) -> Iterator:
        from prometheus_client import core

        state = self._read_state()
        jobs = core.GaugeMetricFamily("sidecar_jobs", "File jobs in the queue, by state", labels=["state"])
        jobs.add_metric(["running"], state["running"])
        jobs.add_metric(["waiting"], state["waiting"])
        yield jobs
        live = core.GaugeMetricFamily("sidecar_live_streams", "Live streams open, by service", labels=["service"])
        for service, count in sorted(state["live"].items()):
            live.add_metric([service], count)
        yield live
        loaded = core.GaugeMetricFamily(
            "sidecar_model_memory_bytes",
            "Loaded models and what loading each took in RAM and GPU memory",
            labels=["family", "model", "device"],
        )
        for family, name, device, size in state["models"]:
            loaded.add_metric([family, name, device], size)
        yield loaded
        yield core.GaugeMetricFamily("sidecar_models_loaded", "Models loaded now", value=len(state["models"]))

    def describe(self) -> Iterator:
        return iter(())  # read at scrape time only: nothing to check at registration
