"""Finding audit targets: the ``*.py`` files of the given paths and the functions
in them decorated with ``@audit_target``.

``collect_files`` and ``mentions_targets`` only read names and text, in the
auditing process. ``discover_file`` and ``load_target`` import the user's code,
which may do anything at import time, so the audit calls them in a child
process (see ``isolation``). A target is named ``<file stem>.<function name>``.
"""
from __future__ import annotations

import ast
import importlib.util
import sys
import traceback
from dataclasses import asdict
from pathlib import Path

#: A file whose text never says this cannot declare a target; it is not imported.
MARK = "audit_target"


class PathError(ValueError):
    """A path given on the command line is missing or not Python: a one-line reason."""


def collect_files(paths) -> list[Path]:
    """The ``.py`` files named by ``paths``: files as given, folders by their ``*.py`` (not recursive)."""
    files: list[Path] = []
    for p in paths:
        path = Path(p)
        if not path.exists():
            raise PathError(f"{p}: no such file or folder")
        if path.is_dir():
            files += sorted(f for f in path.glob("*.py") if f.is_file() and not f.name.startswith("."))
        elif path.suffix != ".py":
            raise PathError(f"{p}: not a Python file; give .py files or folders that hold them")
        else:
            files.append(path)
    seen, unique = set(), []
    for f in files:
        if f.resolve() not in seen:
            seen.add(f.resolve())
            unique.append(f)
    return unique


def mentions_targets(path: Path) -> bool:
    """True when the file's text mentions ``audit_target`` (unreadable files count: discovery says why)."""
    try:
        return MARK in Path(path).read_text(errors="replace")
    except OSError:
        return True


def import_file(path) -> object:
    """Import a user's file as a module, its folder first on ``sys.path`` so it can import its neighbours."""
    path = Path(path).resolve()
    folder = str(path.parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    name = path.stem
    if not name.isidentifier() or name in sys.modules:  # "json.py" must not replace the real json
        name = f"_crosscheck_audit_{abs(hash(str(path)))}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path} as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def declared_functions(module) -> list[tuple[str, object]]:
    """``(name, function)`` for every function defined in ``module`` with ``@audit_target``, in source order."""
    found = []
    for attr, value in vars(module).items():
        decl = getattr(value, "__crosscheck_target__", None)
        if not isinstance(decl, dict) or getattr(value, "__module__", None) != module.__name__:
            continue  # not decorated, or imported from another file (audited there)
        code = getattr(value, "__code__", None)
        found.append((getattr(code, "co_firstlineno", 0), attr, value))
    return [(attr, fn) for _, attr, fn in sorted(found, key=lambda t: (t[0], t[1]))]


def declaration_dict(decl: dict) -> dict:
    """The decorator's arguments as plain JSON-ready values."""
    family = asdict(decl["family"])
    return {**{k: list(v) if isinstance(v, tuple) else v for k, v in family.items()},
            "returns": decl["returns"], "lr": decl["lr"], "options": dict(decl.get("options") or {})}


def discover_file(path) -> dict:
    """Import ``path`` and list its targets: ``{"file", "targets": [...], "error": None | {...}}``.

    An import that raises (a syntax error, a missing module, a misused
    decorator, ``sys.exit`` at module level) gives ``error`` with a one-line
    ``reason`` naming the file and line, and the function when the error is in
    a decorator.
    """
    path = Path(path)
    out: dict = {"file": str(path), "targets": [], "error": None}
    try:
        module = import_file(path)
    except BaseException as e:  # the user's import failed, whatever it raised
        if isinstance(e, KeyboardInterrupt):
            raise
        out["error"] = import_error(path, e)
        return out
    for attr, fn in declared_functions(module):
        out["targets"].append({"name": f"{path.stem}.{attr}", "function": attr, "file": str(path),
                               "line": getattr(getattr(fn, "__code__", None), "co_firstlineno", None),
                               "declaration": declaration_dict(fn.__crosscheck_target__)})
    return out


def import_error(path: Path, e: BaseException) -> dict:
    """Where and why importing ``path`` failed, as a dict with a one-line ``reason``."""
    from crosscheck.model.target import TargetError

    line = getattr(e, "lineno", None) if isinstance(e, SyntaxError) and e.filename == str(path.resolve()) else None
    for frame in traceback.extract_tb(e.__traceback__):
        if Path(frame.filename).resolve() == path.resolve():
            line = frame.lineno  # the innermost line of the user's file
    function = decorated_at(path, line) if line else None
    message = str(e).splitlines()[0] if str(e) else ""
    if isinstance(e, SystemExit):
        message = f"the file called sys.exit({e.code!r}) while being imported"
    where = f"{path}:{line}" if line else str(path)
    what = ("misused @audit_target" if isinstance(e, TargetError)
            else f"cannot import it: {type(e).__name__}")
    reason = f"{where}: {what}: {message}" if message else f"{where}: {what}"
    if function:
        reason += f" (function {function})"
    return {"type": type(e).__name__, "message": message, "line": line, "function": function,
            "reason": reason, "declaration": isinstance(e, TargetError)}


def decorated_at(path: Path, line: int) -> str | None:
    """The function whose decorators span ``line`` of ``path`` (for errors raised by a decorator)."""
    try:
        tree = ast.parse(Path(path).read_text(errors="replace"))
    except (SyntaxError, ValueError, OSError):
        return None
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for dec in node.decorator_list:
                if dec.lineno <= line <= (dec.end_lineno or dec.lineno):
                    return node.name
    return None


def load_target(spec: dict):
    """Import the file of ``spec`` (from ``discover_file``) and build its ``Target``."""
    from crosscheck.model.target import Target, TargetError

    module = import_file(spec["file"])
    fn = getattr(module, spec["function"], None)
    decl = getattr(fn, "__crosscheck_target__", None)
    if not callable(fn) or not isinstance(decl, dict):
        raise TargetError(f"{spec['file']}: no function {spec['function']!r} decorated with @audit_target "
                          f"on this second import; does the file define its targets conditionally?")
    return Target(spec["name"], fn, decl["family"], decl["returns"], decl["lr"], file=spec["file"],
                  options=dict(decl.get("options") or {}))
