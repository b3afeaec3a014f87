"""The package's layout, checked: four layers with imports pointing one way
(commands -> chapters -> library -> core), a library and core that never name
a chapter or command module (not even in a docstring), no import cycles, and
function-local imports only where the line says why (ruff's PLC0415 waived
with a reason: an optional dependency, or a slow import off the common path);
no private name imported from another module, no package re-exporting a
private name or one nothing reads through it, and ``# fmt: skip`` only on
tables.

The import graph is read from the source (every ``import`` statement, at
module level, inside a function or under ``if TYPE_CHECKING:``), so a cycle
hidden in a function body or an annotation is found as well as one that would
fail at import time.
"""

from __future__ import annotations

import ast
import functools
import importlib
import pathlib
import re
import subprocess
import sys

PACKAGE_DIR = pathlib.Path(__file__).resolve().parents[1] / "reuseprior"

#: the layers, lowest first; a module may import its own layer and the ones below
LAYERS: dict[str, tuple[str, ...]] = {
    "core": ("reuseprior.core",),
    "library": (
        "reuseprior.counting",
        "reuseprior.graphs",
        "reuseprior.priors",
        "reuseprior.models",
        "reuseprior.baselines",
        "reuseprior.datasets",
        "reuseprior.training",
        "reuseprior.revolver",
        "reuseprior.zoo",
        "reuseprior.reporting",
        "reuseprior.analysis",
    ),
    "chapters": ("reuseprior.chapters",),
    "commands": ("reuseprior.commands", "reuseprior.__main__"),
}
RANK = {layer: rank for rank, layer in enumerate(LAYERS)}

#: the comment a function-local import carries: ruff's PLC0415 waived, and why
#: (an optional dependency, or a slow import on a path that rarely needs it)
LOCAL_IMPORT_REASON = re.compile(r"#\s*noqa: PLC0415 \(\S.*\)")


def module_name(path: pathlib.Path) -> str:
    parts = path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE_DIR.rglob("*.py"))}


def layer_of(module: str) -> str | None:
    for layer, prefixes in LAYERS.items():
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return layer
    return None


@functools.cache  # several tests read the modules: each is read and parsed once
def parsed(path: pathlib.Path) -> tuple[ast.Module, tuple[str, ...]]:
    """The syntax tree and the lines of ``path``."""
    text = path.read_text()
    return ast.parse(text, str(path)), tuple(text.splitlines())


@functools.cache
def imports(module: str) -> tuple[tuple[str, bool, int], ...]:
    """``(imported module, inside a function, line)`` for every import statement."""
    path = MODULES[module]
    tree = parsed(path)[0]
    is_package = path.name == "__init__.py"
    found: list[tuple[str, bool, int]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            local = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import):
                found.extend((alias.name, in_function, child.lineno) for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = module.split(".") if is_package else module.split(".")[:-1]
                    base = base[: len(base) - child.level + 1]
                    target = ".".join(base + ([child.module] if child.module else []))
                else:
                    target = child.module or ""
                for alias in child.names:  # `from pkg import submodule` imports the submodule
                    sub = f"{target}.{alias.name}"
                    found.append((sub if sub in MODULES else target, in_function, child.lineno))
            visit(child, local)  # an import under ``if TYPE_CHECKING:`` counts: the structure is drawn from it

    visit(tree, False)
    return tuple(found)


def internal_edges() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {m: set() for m in MODULES}
    for module in MODULES:
        for target, _, _ in imports(module):
            if target in MODULES and target != module:
                edges[module].add(target)
    return edges


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the directed graph, or None (depth-first search)."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def dfs(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state and (cycle := dfs(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (cycle := dfs(node)):
            return cycle
    return None


def test_every_module_belongs_to_a_layer():
    stray = [m for m in MODULES if m != "reuseprior" and layer_of(m) is None]
    assert not stray, f"modules outside the layers {list(LAYERS)}: {stray}; move them or add their package to LAYERS"


def test_imports_point_down_the_layers():
    upward = []
    for module in MODULES:
        if module == "reuseprior":
            continue
        for target, _, line in imports(module):
            if target == "reuseprior" or (target.startswith("reuseprior.") and layer_of(target) is None):
                upward.append(f"{module}:{line} imports {target} (the top-level package)")
            elif target in MODULES and RANK[layer_of(target)] > RANK[layer_of(module)]:
                upward.append(f"{module}:{line} ({layer_of(module)}) imports {target} ({layer_of(target)})")
    assert not upward, "imports that point up the layers:\n" + "\n".join(upward)


#: the text by which a source file names a module of the two upper layers
UPPER_LAYER_TEXT = ("reuseprior.chapters", "reuseprior.commands")


def library_files(package_dir: pathlib.Path = PACKAGE_DIR) -> list[pathlib.Path]:
    """The source files of the library and core layers: every ``.py`` under ``package_dir`` but those
    of ``chapters/`` and ``commands/``, and ``__main__.py`` (which dispatches to the commands)."""
    return [
        p
        for p in sorted(package_dir.rglob("*.py"))
        if p.relative_to(package_dir).parts[0] not in ("chapters", "commands", "__main__.py")
    ]


def upper_layer_mentions(package_dir: pathlib.Path = PACKAGE_DIR) -> list[str]:
    """``file:line`` (from the repository root) of every line of a library or core file that names a
    chapter or command module: in an import, a docstring, a comment or a string."""
    return [
        f"{path.relative_to(package_dir.parent)}:{number}"
        for path in library_files(package_dir)
        for number, line in enumerate(parsed(path)[1], 1)
        if any(text in line for text in UPPER_LAYER_TEXT)
    ]


def test_library_names_no_chapter_or_command_module():
    """The library and core know nothing of the layers above them: their docstrings say what the code
    does and which thesis section it implements, not which chapter or command calls it."""
    found = upper_layer_mentions()
    assert not found, (
        "library files naming a chapter or command module (state the policy instead, "
        "or cite the thesis or the stored data):\n" + "\n".join(found)
    )


def test_upper_layer_mentions_finds_them(tmp_path):
    package = tmp_path / "reuseprior"
    for folder in ("chapters", "commands", "models"):
        (package / folder).mkdir(parents=True)
    (package / "models" / "m.py").write_text('"""Read by reuseprior.chapters.ch3."""\n\nX = 1  # reuseprior.commands\n')
    (package / "chapters" / "c.py").write_text('"""reuseprior.chapters.c"""\n')
    (package / "commands" / "k.py").write_text('"""reuseprior.commands.k"""\n')
    (package / "__main__.py").write_text("from reuseprior.commands import main\n")
    assert upper_layer_mentions(package) == ["reuseprior/models/m.py:1", "reuseprior/models/m.py:3"]


def test_no_import_cycle_between_modules():
    cycle = find_cycle(internal_edges())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_no_import_cycle_between_library_packages():
    """Library packages form a hierarchy too (e.g. zoo uses baselines, never
    the reverse)."""

    def package(module: str) -> str:
        return ".".join(module.split(".")[:2])

    edges: dict[str, set[str]] = {}
    for module, targets in internal_edges().items():
        for target in targets:
            if layer_of(module) == layer_of(target) == "library" and package(module) != package(target):
                edges.setdefault(package(module), set()).add(package(target))
    cycle = find_cycle(edges)
    assert cycle is None, "library packages import each other in a cycle: " + " -> ".join(cycle)


def unexplained_local_imports(path: pathlib.Path) -> list[int]:
    """Lines of ``path`` with an import inside a function that does not say why."""
    tree, lines = parsed(path)
    found = []
    for function in ast.walk(tree):
        if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for node in ast.walk(function):
                if isinstance(node, (ast.Import, ast.ImportFrom)) and not LOCAL_IMPORT_REASON.search(
                    lines[node.lineno - 1]
                ):
                    found.append(node.lineno)
    return sorted(set(found))


def test_function_local_imports_say_why():
    hidden = [f"{module}:{line}" for module, path in MODULES.items() for line in unexplained_local_imports(path)]
    assert not hidden, (
        "move these imports to the top of their module, or say why they are lazy "
        "(`# noqa: PLC0415 (reason)`):\n" + "\n".join(hidden)
    )


def test_unexplained_local_imports_finds_one(tmp_path):
    source = tmp_path / "m.py"
    source.write_text("def f():\n    import json\n\n\ndef g():\n    import yaml  # noqa: PLC0415 (optional)\n")
    assert unexplained_local_imports(source) == [2]


def test_find_cycle_finds_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_every_module_imports_alone():
    """Each module imports in a fresh interpreter (an import-time cycle or a
    missing dependency shows up here whatever the test order)."""
    code = (
        "import importlib, sys\n"
        f"for name in {sorted(MODULES)!r}:\n"
        "    for loaded in [m for m in sys.modules if m.startswith('reuseprior')]:\n"
        "        del sys.modules[loaded]\n"
        "    importlib.import_module(name)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=PACKAGE_DIR.parent)
    assert result.returncode == 0, result.stderr[-3000:]


#: The most lines a module of the package may have, and a function (a function
#: that declares argparse flags aside: one ``add_argument`` call a flag).
MAX_MODULE_LINES = 800
MAX_FUNCTION_LINES = 80
#: Functions still over the limit, as "module:function". This list may only
#: shrink: split a function named here and remove it; never add one.
LONG_FUNCTIONS_ALLOWED: frozenset[str] = frozenset()


def _declares_flags(function: ast.AST) -> bool:
    return any(isinstance(node, ast.Attribute) and node.attr == "add_argument" for node in ast.walk(function))


def long_functions() -> dict[str, int]:
    """``{"module:function": lines}`` of every function over :data:`MAX_FUNCTION_LINES`."""
    found = {}
    for module, path in MODULES.items():
        for node in ast.walk(parsed(path)[0]):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and not _declares_flags(node):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    found[f"{module}:{node.name}"] = lines
    return found


def test_no_module_of_the_package_is_over_800_lines():
    long = {m: n for m, p in MODULES.items() if (n := len(parsed(p)[1])) > MAX_MODULE_LINES}
    assert not long, f"modules over {MAX_MODULE_LINES} lines (split them along their roles): {long}"


def test_no_function_is_over_80_lines_beyond_the_shrinking_allow_list():
    found = long_functions()
    new = {name: lines for name, lines in found.items() if name not in LONG_FUNCTIONS_ALLOWED}
    assert not new, f"functions over {MAX_FUNCTION_LINES} lines (split them): {new}"
    fixed = sorted(LONG_FUNCTIONS_ALLOWED - set(found))
    assert not fixed, f"remove these from LONG_FUNCTIONS_ALLOWED, they are short now (the list only shrinks): {fixed}"


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _imported_module_names(tree: ast.Module, module: str) -> dict[str, str]:
    """The names ``module`` binds to modules of the package (``import a.b as x``, ``from a import b``)."""
    bound = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in MODULES:
                    bound[alias.asname or alias.name.split(".")[0]] = alias.name
        elif isinstance(node, ast.ImportFrom):
            for target, _, _ in imports(module):
                for alias in node.names:
                    if target.endswith("." + alias.name) and target in MODULES:
                        bound[alias.asname or alias.name] = target
    return bound


def private_imports() -> list[str]:
    """``module:line name (from target)`` for every private name (one leading underscore) a module of
    the package takes from another module of the package: by ``from ... import _name`` or as
    ``alias._name`` of an imported module."""
    found = []
    for module, path in MODULES.items():
        tree = parsed(path)[0]
        modules = _imported_module_names(tree, module)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("reuseprior")):
                found += [f"{module}:{node.lineno} {a.name}" for a in node.names if _private(a.name)]
            elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and _private(node.attr):
                if node.value.id in modules and modules[node.value.id] != module:
                    found.append(f"{module}:{node.lineno} {node.attr} (of {modules[node.value.id]})")
    return found


def test_no_private_name_is_imported_across_modules():
    """A name another module needs is public (named without a leading underscore, documented); a
    private one stays in its module."""
    found = private_imports()
    assert not found, "private names imported from another module (make them public or keep them home):\n" + "\n".join(
        found
    )


#: where a package's re-exports are read: the package, its tests, the notebooks' scripts, the benchmarks
#: and scripts, and the documentation's code
READERS = [
    p
    for pattern in (
        "reuseprior/**/*.py",
        "tests/*.py",
        "notebooks/*.py",
        "benchmarks/*.py",
        "scripts/**/*.py",
        "docs/*.md",
        "*.md",
    )
    for p in PACKAGE_DIR.parent.glob(pattern)
]
#: names a tool reads from a chapter module by name (``getattr``): ``reuseprior.commands.build``'s
#: ``build_needs`` and the notebooks' ``PROFILES``
READ_BY_NAME = frozenset({"build_needs", "PROFILES"})


def re_exports() -> dict[str, list[str]]:
    """``{package: [names]}``: what each package's ``__init__`` imports from its own modules and does not
    use itself (a submodule imported, or a name the package's own code uses, is no re-export)."""
    out = {}
    for module, path in MODULES.items():
        if path.name != "__init__.py":
            continue
        tree = parsed(path)[0]
        used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}  # names the package itself uses
        names = []
        for node in tree.body:
            if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith(module + ".")):
                source = node.module if not node.level else module  # ``from . import x``: a submodule
                names += [
                    a.asname or a.name
                    for a in node.names
                    if f"{source}.{a.name}" not in MODULES and (a.asname or a.name) not in used
                ]
        if names:
            out[module] = names
    return out


def _read_through(package: str, name: str, texts: dict[pathlib.Path, str]) -> bool:
    """Whether some reader takes ``name`` through ``package``: ``from package import name``, or
    ``alias.name`` of an import of the package (``import package as alias``, ``from parent import leaf``)."""
    parent, _, leaf = package.rpartition(".")
    # a parenthesised import list up to its ")", or one line: never the imports that follow
    direct = re.compile(rf"from {re.escape(package)} import (?:\([^)]*?|[^\n(]*?)\b{re.escape(name)}\b")
    binding = re.compile(
        rf"(?:import {re.escape(package)} as (\w+))|(?:from {re.escape(parent)} import [^\n]*?\b{re.escape(leaf)}\b"
        rf"(?: as (\w+))?)"
    )
    for path, text in texts.items():
        if path == MODULES[package] or name not in text:
            continue
        if direct.search(text) or re.search(rf"\b{re.escape(package)}\.{re.escape(name)}\b", text):
            return True
        aliases = {a or b or leaf for a, b in binding.findall(text)} if binding.search(text) else set()
        if any(re.search(rf"\b{re.escape(a)}\.{re.escape(name)}\b", text) for a in aliases):
            return True
    return False


def test_packages_re_export_no_private_name_and_nothing_unread():
    """A package's ``__init__`` offers what is read through it: no private name, and no name that
    nothing (package, tests, notebooks, benchmarks, scripts, documentation) takes from it."""
    texts = {p: p.read_text() for p in READERS}
    private = {p: [n for n in names if _private(n)] for p, names in re_exports().items()}
    assert not any(private.values()), {p: n for p, n in private.items() if n}
    unread = {
        package: [n for n in names if n not in READ_BY_NAME and not _read_through(package, n, texts)]
        for package, names in re_exports().items()
    }
    assert not any(unread.values()), {p: n for p, n in unread.items() if n}


def fmt_skips_off_tables() -> list[str]:
    """``module:line`` of every ``# fmt: skip`` in the package, the tests, the benchmarks, the scripts
    and the notebooks' scripts that is not on a table: the last line of a module-level assignment of a
    literal tuple, list, dict or set (a table laid out by hand, row by row)."""
    found = []
    others = [PACKAGE_DIR.parent / p for p in ("tests", "benchmarks", "scripts", "notebooks")]
    files = {**MODULES, **{str(f.relative_to(PACKAGE_DIR.parent)): f for d in others for f in sorted(d.rglob("*.py"))}}
    for module, path in files.items():
        tree, lines = parsed(path)
        tables = {
            node.end_lineno
            for node in tree.body
            if isinstance(node, (ast.Assign, ast.AnnAssign))
            and isinstance(node.value, (ast.Tuple, ast.List, ast.Dict, ast.Set))
        }
        found += [
            f"{module}:{i}"
            for i, line in enumerate(lines, 1)
            if line.rstrip().endswith("# fmt: skip") and i not in tables
        ]
    return found


def test_fmt_skip_only_on_tables():
    """Formatting is ruff's everywhere but on hand-laid tables: a long call is split, not compacted."""
    found = fmt_skips_off_tables()
    assert not found, "`# fmt: skip` off a table (let ruff format it):\n" + "\n".join(found)


def _chapter_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[2] if len(parts) > 2 and parts[1] == "chapters" else None


def test_a_chapter_imports_no_other_chapter_and_each_notebook_has_one_driver():
    """What two chapters share lives in the library; the chapters package holds one driver (a module or a
    package) per notebook, named like it (:func:`reuseprior.chapters.list_chapters`)."""
    crossing = [
        f"{module}:{line} imports {target}"
        for module in MODULES
        if _chapter_of(module)
        for target, _, line in imports(module)
        if _chapter_of(target) and _chapter_of(target) != _chapter_of(module)
    ]
    assert not crossing, "chapters importing other chapters:\n" + "\n".join(crossing)
    chapters = importlib.import_module("reuseprior.chapters").list_chapters()
    entries = {
        p.stem for p in (PACKAGE_DIR / "chapters").iterdir() if p.suffix == ".py" or (p / "__init__.py").exists()
    }
    assert entries - {"__init__"} == set(chapters)


#: the most floors a chapter package stands on: its longest chain of imports between its own modules
#: (the package's ``__init__`` counted as one of them)
CHAPTER_FLOORS = 6


def _chapter_packages() -> list[str]:
    return [m for m, p in MODULES.items() if p.name == "__init__.py" and _chapter_of(m) and m.count(".") == 2]


def package_floors(package: str) -> dict[str, int]:
    """``{module: floor}`` of ``package``'s own modules (its ``__init__`` included): 1 for a module that
    imports none of the others, else one more than the highest it imports (the graph has no cycle)."""
    edges = internal_edges()
    own = {m for m in MODULES if m == package or m.startswith(package + ".")}

    @functools.cache
    def floor(module: str) -> int:
        return 1 + max((floor(t) for t in edges[module] if t in own), default=0)

    return {m: floor(m) for m in sorted(own)}


def longest_chain(package: str) -> list[str]:
    """One longest chain of imports between ``package``'s own modules, from the top module down."""
    floors, edges = package_floors(package), internal_edges()
    module = max(floors, key=lambda m: (floors[m], m))
    chain = [module]
    while floors[module] > 1:
        module = max((t for t in edges[module] if t in floors and floors[t] == floors[module] - 1))
        chain.append(module)
    return chain


def test_chapter_packages_stand_on_few_floors_and_no_submodule_imports_its_package():
    """A chapter package is organised by concept (settings, training, studies, readings), not as the
    history of its attempts: its longest chain of imports between its own modules is at most
    :data:`CHAPTER_FLOORS` modules, and no submodule imports its own package's ``__init__`` (whose
    names come from the submodules: a submodule reads them where they are defined)."""
    packages = _chapter_packages()
    assert "reuseprior.chapters.ch4_sharing_training" in packages
    tall = {p: longest_chain(p) for p in packages if len(longest_chain(p)) > CHAPTER_FLOORS}
    assert not tall, "chapter packages on more floors than {}: {}".format(
        CHAPTER_FLOORS, {p: " -> ".join(m.rpartition(".")[2] for m in c) for p, c in tall.items()}
    )
    upward = [
        f"{module}:{line} imports its package {target}"
        for package in packages
        for module in MODULES
        if module.startswith(package + ".")
        for target, _, line in imports(module)
        if target == package
    ]
    assert not upward, "submodules importing their own package's __init__:\n" + "\n".join(upward)


def test_longest_chain_measures_a_tower(monkeypatch):
    """The measure itself: a package of three modules importing one another in a row stands on 3 floors,
    and 4 with an ``__init__`` that imports the top one."""
    fake = {
        "reuseprior.chapters.chx": {"reuseprior.chapters.chx.c"},
        "reuseprior.chapters.chx.a": set(),
        "reuseprior.chapters.chx.b": {"reuseprior.chapters.chx.a"},
        "reuseprior.chapters.chx.c": {"reuseprior.chapters.chx.b", "reuseprior.chapters.chx.a"},
    }
    monkeypatch.setitem(globals(), "MODULES", {**MODULES, **{m: pathlib.Path(m) for m in fake}})
    monkeypatch.setitem(globals(), "internal_edges", lambda: fake)
    assert package_floors("reuseprior.chapters.chx")["reuseprior.chapters.chx.c"] == 3
    assert [m.rpartition(".")[2] for m in longest_chain("reuseprior.chapters.chx")] == ["chx", "c", "b", "a"]
