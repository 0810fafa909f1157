"""crosscheck's subpackages form layers that import only downward, and no module imports itself back.

Every module is parsed, imports inside functions included (the lazy ones are the easiest to get wrong).
The order is the one drawn in docs/architecture.md.
"""
import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "crosscheck"
LAYERS = ("model", "numerics", "judge", "drawing", "diagnosis", "engine", "reports", "audit", "app")
#: Modules at the package's top: the public face, each placed in the layer it re-exports.
TOP = {"crosscheck": "model", "crosscheck.campaign": "engine", "crosscheck.__main__": "app"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in PACKAGE.rglob("*.py")}


def layer(module: str) -> str:
    if module in TOP:
        return TOP[module]
    return module.split(".")[1]


def imports(module: str, path: Path, known) -> set[str]:
    """The package's own modules that ``module`` imports, anywhere in its body."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        else:
            continue
        for name in names:
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name and name != module and not module.startswith(name + "."):
                found.add(name)
    return found


def graph() -> dict[str, set[str]]:
    known = modules()
    return {m: imports(m, p, known) for m, p in known.items()}


def test_every_module_is_in_a_layer():
    strays = [m for m in modules() if layer(m) not in LAYERS]
    assert not strays, f"modules outside the layers {LAYERS}: {strays}; move each into the layer it belongs to"


def test_layers_import_only_downward():
    upward = [f"{m} ({layer(m)}) imports {t} ({layer(t)})" for m, targets in sorted(graph().items())
              for t in sorted(targets) if LAYERS.index(layer(t)) > LAYERS.index(layer(m))]
    assert not upward, "upward imports:\n" + "\n".join(upward)


def test_no_import_cycles():
    g = graph()
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def visit(v):  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in g[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(g):
        if v not in index:
            visit(v)
    assert not cycles, "import cycles:\n" + "\n".join(", ".join(c) for c in cycles)


def test_the_checker_sees_lazy_imports(tmp_path):
    """The parser must count an import inside a function, or the tests above could not fail."""
    source = "def f():\n    from crosscheck.app import cli\n"
    path = PACKAGE / "model" / "vocabulary.py"
    found = imports("crosscheck.model.vocabulary", path, modules())
    assert "crosscheck.app.cli" not in found
    probe = tmp_path / "probe.py"
    probe.write_text(source)
    assert imports("crosscheck.model.probe", probe, modules()) == {"crosscheck.app.cli"}
