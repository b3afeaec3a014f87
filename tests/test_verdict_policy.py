"""The verdict policy has one home (:mod:`reuseprior.core.verdict_policy`, issue 61): the statistics, the
verdict pipeline, the findings and the convergence criteria read its words, level, rule and criteria,
no other module of the package defines a verdict word again or offers the policy's names on, and every
reader (the package, the tests, the notebooks' scripts, the benchmarks) imports them from their home."""

from __future__ import annotations

import ast
import pathlib

from reuseprior.core import verdict_policy as policy
from reuseprior.reporting import findings, statistics, verdicts
from reuseprior.training import convergence

PACKAGE = pathlib.Path(policy.__file__).resolve().parents[1]


def test_the_policy_modules_read_one_home():
    """The modules that apply the policy bind its own objects, and none offers them on: no verdict-policy
    name in their ``__all__``, and the names their own code does not use not imported at all."""
    for module, names in (
        (statistics, ("ALPHA", "CONFIDENCE", "DESIGN_POWER", "Claim", "verdict")),
        (findings, ("ALPHA", "REPRODUCED", "CONTRADICTED", "VERDICTS")),
        (verdicts, ("verdict", "seeds_that_count")),
        (convergence, ("PLATEAU_WINDOW", "RunCriteria", "fits_training_set", "plateaued")),
    ):
        for name in names:
            assert getattr(module, name) is getattr(policy, name), f"{module.__name__}.{name}"
        assert not set(module.__all__) & set(policy.__all__), f"{module.__name__} re-exports the verdict policy"
    for name in ("REPRODUCED", "CONTRADICTED", "UNDETERMINED", "NOT_COMPARABLE"):
        assert not hasattr(statistics, name), f"reuseprior.reporting.statistics.{name}"
    for name in ("PLATEAU_TOLERANCE_PP", "SEARCH_MIN_COUNTING_SHARE", "seeds_that_count"):
        assert not hasattr(convergence, name), f"reuseprior.training.convergence.{name}"
    assert policy.VERDICTS == ("reproduced", "contradicted", "undetermined", "not comparable")
    assert policy.CONFIDENCE == 1 - policy.ALPHA


def policy_names_read_elsewhere(root: pathlib.Path = PACKAGE.parent) -> list[str]:
    """``file:line name (from module)`` for each verdict-policy name that the package, the tests, the
    notebooks' scripts, the benchmarks or the scripts take from a module of the package other than
    :mod:`reuseprior.core.verdict_policy`: imported from it, or read as an attribute of it."""
    names = set(policy.__all__)
    modules = {
        ".".join(p.relative_to(root).with_suffix("").parts).removesuffix(".__init__")
        for p in (root / "reuseprior").rglob("*.py")
    }
    home = policy.__name__
    files = [p for d in ("reuseprior", "tests", "benchmarks", "scripts") for p in (root / d).rglob("*.py")]
    found = []
    for path in sorted(files + list((root / "notebooks").glob("*.py"))):
        where = path.relative_to(root)
        package = ".".join(where.parts[:-1])  # what a relative import of the file is relative to
        tree = ast.parse(path.read_text())
        aliases = {}  # local name -> module of the package it is bound to
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                source = node.module or ""
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    source = ".".join(base + ([source] if source else []))
                for alias in node.names:
                    if f"{source}.{alias.name}" in modules:
                        aliases[alias.asname or alias.name] = f"{source}.{alias.name}"
                    elif source in modules and source != home and alias.name in names:
                        found.append(f"{where}:{node.lineno} {alias.name} (from {source})")
            elif isinstance(node, ast.Import):
                aliases.update({a.asname: a.name for a in node.names if a.asname and a.name in modules})
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in names:
                source = aliases.get(node.value.id) if isinstance(node.value, ast.Name) else None
                source = source or (ast.unparse(node.value) if ast.unparse(node.value) in modules else None)
                if source and source != home:
                    found.append(f"{where}:{node.lineno} {node.attr} (of {source})")
    return found


def test_every_verdict_policy_name_is_read_from_its_home():
    found = policy_names_read_elsewhere()
    assert not found, "verdict-policy names read through another module (import them from " + (
        f"{policy.__name__}):\n" + "\n".join(found)
    )


def test_policy_names_read_elsewhere_finds_them(tmp_path):
    (tmp_path / "reuseprior" / "reporting").mkdir(parents=True)
    for module in ("__init__", "statistics"):
        (tmp_path / "reuseprior" / "reporting" / f"{module}.py").write_text("")
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_x.py").write_text(
        "from reuseprior.reporting.statistics import REPRODUCED, paired_summary\n"
        "from reuseprior.reporting import statistics as st\n"
        "from reuseprior.core.verdict_policy import ALPHA\n"
        "st.verdict, st.paired_summary, ALPHA\n"
    )
    assert policy_names_read_elsewhere(tmp_path) == [
        "tests/test_x.py:1 REPRODUCED (from reuseprior.reporting.statistics)",
        "tests/test_x.py:4 verdict (of reuseprior.reporting.statistics)",
    ]


def test_no_other_module_defines_a_verdict_word():
    words = set(policy.VERDICTS)
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "verdict_policy.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
                values = node.value.elts if isinstance(node.value, ast.Tuple) else [node.value]
                if any(isinstance(v, ast.Constant) and v.value in words for v in values):
                    found.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert not found, "verdict words defined outside reuseprior.core.verdict_policy: " + ", ".join(found)


def test_the_rule_is_unchanged_on_its_cases():
    summary = {"t low": 0.5, "t high": 1.5, "permutation p": 0.01}
    assert policy.verdict(summary, "greater") == policy.REPRODUCED
    assert policy.verdict(summary, "less") == policy.CONTRADICTED
    assert policy.verdict({**summary, "permutation p": 0.06}, "greater") == policy.UNDETERMINED
    equivalent = {"t low": -0.2, "t high": 0.3, "permutation p": 0.5, "equivalence margin": 1.0, "equivalence p": 0.01}
    assert policy.verdict(equivalent, "equivalent", margin=1.0) == policy.REPRODUCED
