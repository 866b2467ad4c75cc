"""One path contract (crustwatch.paths): the rules take every path from it, and each rule's log and
benchmark lie in the folder of its stage (the rule file's name)."""

from __future__ import annotations

import re
from pathlib import Path

from crustwatch import paths

RULES = Path(__file__).resolve().parents[1] / "workflow" / "rules"
TEMPLATES = {k: v for k, v in vars(paths).items() if k.isupper() and isinstance(v, str)}


def _rule_blocks():
    """(stage, rule name, {directive: text}) for every rule of every rule file."""
    for smk in sorted(RULES.glob("*.smk")):
        text = smk.read_text()
        for m in re.finditer(r"^rule (\w+):\n((?:(?:    .*)?\n)*)", text, re.M):
            directives, key = {}, None
            for line in m.group(2).splitlines():
                d = re.match(r"^    (\w+):\s*(.*)$", line)
                if d:
                    key = d.group(1)
                    directives[key] = d.group(2)
                elif key:
                    directives[key] += "\n" + line
            yield smk.stem, m.group(1), directives


def test_rules_write_no_path_of_their_own():
    for smk in RULES.glob("*.smk"):
        literal = re.findall(r'"((?:results|logs|benchmarks)/[^"]*)"', smk.read_text())
        assert not literal, f"{smk.name}: take these from crustwatch.paths: {literal}"


def test_logs_and_benchmarks_lie_in_their_stages_folder():
    seen = 0
    for stage, rule, d in _rule_blocks():
        for directive, root in (("log", "logs"), ("benchmark", "benchmarks")):
            if directive not in d:
                assert directive != "log", f"rule {rule} ({stage}.smk) has no log"
                continue
            names = re.findall(r"paths\.([A-Z_]+)", d[directive])
            assert names, f"rule {rule}: its {directive} is not from crustwatch.paths"
            for n in names:
                assert TEMPLATES[n].startswith(f"{root}/{stage}/"), (rule, n, TEMPLATES[n])
                seen += 1
    assert seen >= 25  # every rule has a log; training, pretraining and prediction a benchmark


def test_templates_are_unique_and_per_photo_paths_stay_apart():
    values = list(TEMPLATES.values())
    assert len(values) == len(set(values))
    a, b = paths.photo("x1"), paths.photo("x2")
    assert not set(a.values()) & set(b.values())
    assert paths.manifest("normalize", "mesa_2019-05-14") == "results/normalized/shards/mesa_2019-05-14.json"
    assert paths.fill(paths.WEIGHTS, model="unet", version="v0123456789ab", seed=3) == (
        "results/models/unet/v0123456789ab/seed3/model.safetensors")
