"""The verdict policy has one home (:mod:`reuseprior.core.verdict_policy`, issue 61): the statistics, the
verdict pipeline, the findings and the convergence criteria read its words, level, rule and criteria,
and no other module of the package defines a verdict word again."""

from __future__ import annotations

import ast
import pathlib

from reuseprior.core import verdict_policy as policy
from reuseprior.reporting import findings, statistics, verdicts
from reuseprior.training import convergence

PACKAGE = pathlib.Path(policy.__file__).resolve().parents[1]


def test_the_policy_modules_read_one_home():
    for name in ("ALPHA", "CONFIDENCE", "DESIGN_POWER", "REPRODUCED", "CONTRADICTED", "UNDETERMINED", "verdict"):
        assert getattr(statistics, name) is getattr(policy, name), name
    assert findings.VERDICTS is policy.VERDICTS
    assert verdicts.verdict is policy.verdict and verdicts.seeds_that_count is policy.seeds_that_count
    for name in ("PLATEAU_WINDOW", "PLATEAU_TOLERANCE_PP", "SEARCH_MIN_COUNTING_SHARE", "RunCriteria", "plateaued"):
        assert getattr(convergence, name) is getattr(policy, name), name
    assert policy.VERDICTS == ("reproduced", "contradicted", "undetermined", "not comparable")
    assert policy.CONFIDENCE == 1 - policy.ALPHA


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
