"""Finding audit targets: the ``*.py`` files of the given paths and the functions
in them decorated with ``@audit_target``.

``collect_files`` and ``mentions_targets`` only read names and text, in the
auditing process. ``discover_file`` and ``load_function`` import the user's code,
which may do anything at import time, so the audit calls them in the audited
process (``audit.worker``); replay and the pytest plugin call them in process.
This is the one loader of user files: a file's folder and its project root
(``project_root``, as pytest's rootdir) go on ``sys.path``. A target is named
``<file stem>.<function name>``.
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


#: Files that mark a project's root folder, as pytest finds its rootdir.
ROOT_MARKS = ("pyproject.toml", "setup.cfg", ".git")


def project_root(path, rootdir=None) -> Path | None:
    """The folder whose packages a user's file imports the way pytest lets it: ``rootdir`` if given
    (pytest's), else the nearest folder above ``path`` holding pyproject.toml, setup.cfg or .git."""
    if rootdir is not None:
        return Path(rootdir).resolve()
    for folder in Path(path).resolve().parents:
        if any((folder / mark).exists() for mark in ROOT_MARKS):
            return folder
    return None


def import_file(path, rootdir=None) -> object:
    """Import a user's file as a module: its folder first on ``sys.path`` so it can import its
    neighbours, then its project root (``project_root``) so ``from mynet import ...`` works from a
    test file under ``tests/`` whatever the current folder."""
    path = Path(path).resolve()
    folder = str(path.parent)
    root = project_root(path, rootdir)
    if root is not None and str(root) not in sys.path:
        sys.path.insert(0, str(root))
    if folder in sys.path:
        sys.path.remove(folder)
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


def load_function(file, function: str, *, decorated: bool = True, rootdir=None):
    """Import ``file`` and return its module-level ``function`` (decorated with ``@audit_target``
    unless ``decorated`` is False); ``TargetError`` with a one-line reason if there is none."""
    from crosscheck.model.target import TargetError

    module = import_file(file, rootdir)
    fn = getattr(module, function, None)
    if not callable(fn):
        raise TargetError(f"{file}: no function {function!r} at module level")
    if decorated and not isinstance(getattr(fn, "__crosscheck_target__", None), dict):
        raise TargetError(f"{file}: {function} is not decorated with @audit_target on this import; does the "
                          f"file define its targets conditionally?")
    return fn


def declared(decl: dict | None, *, what: str = "the declaration") -> dict:
    """``__crosscheck_target__`` rebuilt from a recorded declaration (``declaration_dict``), checked
    again by ``audit_target`` itself: a report or an audited process may hold anything."""
    from crosscheck.model.target import TargetError, audit_target

    if not isinstance(decl, dict):
        raise TargetError(f"{what} is missing")
    args = {k: v for k, v in decl.items() if k != "options"}
    options = decl.get("options") or {}
    if not isinstance(options, dict):
        raise TargetError(f"{what}: options must be a dict")
    return audit_target(**args, **options)(lambda *a: None).__crosscheck_target__


def make_target(name: str, fn, decl: dict, file=None):
    """The ``Target`` of ``fn`` under the declaration ``decl`` (``__crosscheck_target__``)."""
    from crosscheck.model.target import Target

    return Target(name, fn, decl["family"], decl["returns"], decl["lr"], file=str(file) if file else None,
                  options=dict(decl.get("options") or {}))


def load_target(spec: dict, rootdir=None):
    """Import the file of ``spec`` (from ``discover_file``) in this process and build its ``Target``."""
    fn = load_function(spec["file"], spec["function"], rootdir=rootdir)
    return make_target(spec["name"], fn, fn.__crosscheck_target__, spec["file"])
