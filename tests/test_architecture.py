"""The layering the code promises (README, "Layout"), checked on its imports: dependencies point one way."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("bitstream", "nrffcodec")
MAX_LINES = 350
# Layers, bottom first; a module may import its own layer and those below it (no cycles, checked apart).
LAYERS = (
    ("bitstream",),
    ("nrffcodec.errors", "nrffcodec.version", "nrffcodec.settings"),
    ("nrffcodec.core",),
    ("nrffcodec.encoder", "nrffcodec.decoder", "nrffcodec.media"),
    ("nrffcodec.evaluation", "nrffcodec.app", "nrffcodec.__main__"),
)
# The thin command line sits on both top layers: `nrff sweep` runs the evaluation.
ALLOWED_ACROSS = {("nrffcodec.app.sweep_cmd", "nrffcodec.evaluation"), ("nrffcodec.__main__", "nrffcodec.app")}
FACADE = "nrffcodec"  # the package itself re-exports entry points lazily, by name


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for package in PACKAGES for p in sorted((ROOT / package).rglob("*.py"))}


def imports_of(name: str, path: Path) -> set[str]:
    """Every project module `name` imports, at module level or inside functions, relative ones resolved."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names)
    known = modules()
    return {m for m in found if m in known and m != name}


def layer_of(name: str) -> int:
    for rank, prefixes in enumerate(LAYERS):
        if any(name == p or name.startswith(p + ".") for p in prefixes):
            return rank
    raise AssertionError(f"{name} belongs to no layer: add it to LAYERS")


def _subpackage(name: str) -> str:
    return ".".join(name.split(".")[:2])


def _may_cross(name: str, target: str) -> bool:
    """Top-layer modules import within their own subpackage, or along ALLOWED_ACROSS."""
    if not layer_of(name) == layer_of(target) == len(LAYERS) - 1:
        return True
    same = _subpackage(target) == _subpackage(name)
    return same or any(name.startswith(a) and target.startswith(b) for a, b in ALLOWED_ACROSS)


def graph() -> dict[str, set[str]]:
    return {name: imports_of(name, path) for name, path in modules().items()}


def test_every_module_belongs_to_a_layer() -> None:
    for name in modules():
        if name != FACADE:
            layer_of(name)


def test_dependencies_point_down() -> None:
    wrong = []
    for name, targets in graph().items():
        if name == FACADE:
            continue
        for target in targets:
            if target == FACADE:
                wrong.append(f"{name} -> {target} (import from the module that defines it)")
            elif layer_of(target) > layer_of(name) or not _may_cross(name, target):
                wrong.append(f"{name} -> {target}")
    assert not wrong, "imports against the layering:\n" + "\n".join(sorted(wrong))


def test_the_codec_never_imports_the_evaluation_or_the_application() -> None:
    codec = [n for n in modules() if n != FACADE and layer_of(n) < len(LAYERS) - 1]
    g = graph()
    for name in codec:
        assert not {t for t in g[name] if t.startswith(("nrffcodec.app", "nrffcodec.evaluation"))}, name


def test_settings_are_plain_data() -> None:
    source = (ROOT / "nrffcodec" / "settings.py").read_text()
    assert not re.search(r"^\s*(import|from)\s+(torch|numpy|av)\b", source, flags=re.M)
    assert not {t for t in graph()["nrffcodec.settings"] if t.startswith(("nrffcodec.encoder", "nrffcodec.core"))}


def test_there_are_no_import_cycles() -> None:
    g = graph()
    state: dict[str, int] = {}  # 1 on the current path, 2 done

    def visit(name: str, path: list[str]) -> None:
        state[name] = 1
        for target in sorted(g.get(name, ())):
            if target == FACADE:
                continue
            if state.get(target) == 1:
                pytest.fail("import cycle: " + " -> ".join([*path[path.index(target) :], target]))
            if target not in state:
                visit(target, [*path, target])
        state[name] = 2

    for name in sorted(g):
        if name not in state:
            visit(name, [name])


@pytest.mark.parametrize("folder", ["bitstream", "nrffcodec", "tests", "benchmarks"])
def test_no_module_is_longer_than_the_limit(folder: str) -> None:
    long = {p.name: n for p in (ROOT / folder).rglob("*.py") if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines: {long}"


def test_nothing_sets_environment_variables_at_import() -> None:
    for name, path in modules().items():
        for statement in ast.parse(path.read_text()).body:
            if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                continue
            assert "environ" not in ast.unparse(statement), f"{name}: {ast.unparse(statement)}"


def test_every_suppression_says_why() -> None:
    marker = re.compile(r"#\s*(noqa(?::\s*[A-Z0-9, ]+)?|type:\s*ignore(?:\[[\w-]+\])?)(.*)$")
    bare = []
    for folder in ("bitstream", "nrffcodec", "tests", "benchmarks"):
        for path in (ROOT / folder).rglob("*.py"):
            for number, line in enumerate(path.read_text().splitlines(), 1):
                match = marker.search(line)
                if match and not match.group(2).strip(" -#"):
                    bare.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not bare, "suppressions without a reason:\n" + "\n".join(bare)


def readme_module_map() -> dict[str, str]:
    """The README's map of the code ("How it works"): each row's package cell -> the rest of the row."""
    text = (ROOT / "README.md").read_text()
    rows = re.findall(r"^\|[ a-z]*\| `([\w/.]+)` \| (.*) \|$", text, flags=re.MULTILINE)
    return {package.rstrip("/").removesuffix(".py").replace("/", "."): rest for package, rest in rows}


def test_the_readmes_map_names_every_module_and_no_other() -> None:
    """A newcomer reads the layers' table to find a module's job: it names each, in its package's row."""
    rows = readme_module_map()
    missing = []
    for name, path in modules().items():
        if path.name in ("__init__.py", "__main__.py"):
            continue
        package = name if name in rows else name.rpartition(".")[0]
        row = rows.get(package, rows.get("nrffcodec.settings", "") if package == "nrffcodec" else "")
        if name not in rows and f"`{path.name}`" not in row:
            missing.append(name)
    assert not missing, f"modules the README's map does not name: {missing}"
    stale = []
    for package, row in rows.items():
        folder = ROOT / package.replace(".", "/")
        folder = folder if folder.is_dir() else folder.parent  # a module's row names its neighbours
        stale += [f"{package}: {file}" for file in re.findall(r"`(\w+\.py)`", row) if not (folder / file).exists()]
    assert not stale, f"the README's map names modules that do not exist: {stale}"
