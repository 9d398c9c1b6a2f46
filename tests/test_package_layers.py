"""The package's structure: layers follow the data's path and nothing imports in a circle.

Imports are read from the source (``ast``), function-local ones included, so a cycle hidden inside
a function body is found too.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import torch
import yaml
from slurm_fixture import synthetic_root, tiny_grid  # noqa: F401 (fixture)

import benchmark

ROOT = Path(benchmark.__file__).resolve().parent

# data → models → engine → grid + launch → analysis → quickstart → cli (shared pieces below all).
LAYERS = {
    "benchmark": 0, "benchmark.errors": 0, "benchmark.strict_config": 0, "benchmark.plugins": 0,
    "benchmark.package_data": 0, "benchmark.lazy_exports": 0,
    "benchmark.data": 1, "benchmark.models": 2, "benchmark.engine": 3, "benchmark.grid": 4,
    "benchmark.launch": 4.5, "benchmark.analysis": 5, "benchmark.quickstart": 6, "benchmark.cli": 7,
    "benchmark.__main__": 8,
}


def module_name(path: Path) -> str:
    parts = ["benchmark", *path.relative_to(ROOT).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in ROOT.rglob("*.py")}


def layer_key(name: str) -> str:
    return max((k for k in LAYERS if name == k or name.startswith(k + ".")), key=len)


def layer_of(name: str) -> float:
    return LAYERS[layer_key(name)]


def imports_of(name: str) -> set[str]:
    """Modules of ``benchmark`` that ``name`` imports (``from pkg import submodule`` counts the submodule)."""
    tree = ast.parse(MODULES[name].read_text(), filename=str(MODULES[name]))
    package = name if MODULES[name].name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: ``from .x import y`` inside ``package``
                parts = package.split(".")
                base = ".".join([*parts[: len(parts) - node.level + 1], *filter(None, [base])])
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.add(sub if sub in MODULES else base)
    return {m for m in found if m in MODULES and m != name}


GRAPH = {name: imports_of(name) for name in MODULES}


def test_the_layer_table_covers_every_module():
    """A new top-level file must be placed in a layer (it would otherwise count as the root)."""
    unplaced = sorted(name for name in MODULES if layer_key(name) == "benchmark" and name != "benchmark")
    assert not unplaced, f"add these to LAYERS: {unplaced}"
    assert "benchmark.models.registry" in GRAPH and "benchmark.cli" in GRAPH  # the scan found the package


def test_no_module_imports_a_higher_layer():
    upward = sorted(f"{a} -> {b}" for a, deps in GRAPH.items() for b in deps if layer_of(b) > layer_of(a))
    assert not upward, "imports against the data path:\n" + "\n".join(upward)


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle (as a path that returns to its start), or None; iterative DFS."""
    colour = dict.fromkeys(graph, 0)  # 0 new, 1 on the stack, 2 finished
    for start in sorted(graph):
        if colour[start]:
            continue
        stack = [(start, iter(sorted(graph[start])))]
        path = [start]
        colour[start] = 1
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                colour[node] = 2
                stack.pop()
                path.pop()
            elif colour[child] == 1:
                return path[path.index(child):] + [child]
            elif colour[child] == 0:
                colour[child] = 1
                stack.append((child, iter(sorted(graph[child]))))
                path.append(child)
    return None


def test_cycle_finder_finds_a_planted_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycle_inside_the_package():
    cycle = find_cycle(GRAPH)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_login_node_commands_import_no_torchvision(tmp_path, synthetic_root):  # noqa: F811
    """status and collect (and launch, before its jobs) load every backbone and dataset-format file
    for names, layouts and formats, but build and decode nothing: torchvision (about 1.5 s of a
    command's start and exit on a CPU) is imported only where a network is built (plan builds them
    on the meta device to count MACs) or a JPEG coded. The test plugin is loaded too (conftest
    names it in STBENCH_PLUGINS)."""
    exp = tmp_path / "tiny.yaml"
    exp.write_text(yaml.safe_dump(tiny_grid(synthetic_root, tmp_path / "out")))
    code = ("import sys; from benchmark.cli import main\n"
            f"for args in (['status', {str(exp)!r}], ['collect', {str(exp)!r}]):\n"
            "    assert main(args) in (0, 2), args\n"
            "print(sorted(m for m in sys.modules if m.partition('.')[0] == 'torchvision'))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]", done.stderr
    # the modules whose import was deferred still work where they are used
    from benchmark.data.decode import _decode_jpeg
    from benchmark.data.encode import _encode_jpeg
    from benchmark.models import build_model

    image = torch.randint(0, 256, (3, 16, 16), dtype=torch.uint8)
    assert _decode_jpeg(_encode_jpeg(image, quality=100)).shape == image.shape
    assert build_model("TSN-ResNet18-f4", 3)(torch.zeros(1, 3, 4, 32, 32)).shape == (1, 3)
