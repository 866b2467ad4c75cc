"""Shards: per-photo outputs, one manifest per (site, date) job."""

from __future__ import annotations

import json
import os
import re

import pytest

from crustwatch import files, shards


def test_shard_keys_are_path_safe_and_distinct():
    assert shards.shard_of("mesa", "2020-05-12") == "mesa_2020-05-12"
    a, b = shards.site_key("Mesa Verde / Nord"), shards.site_key("Mesa Verde / Süd")
    assert a != b and all(re.match(r"^[A-Za-z0-9._-]+$", k) for k in (a, b))
    assert shards.site_key("x; touch pwned.txt").startswith("x_touch_pwned.txt-")


def test_manifest_names_every_file_with_its_sha256(tmp_path):
    os.chdir(tmp_path)

    def step(iid, paths):
        files.write_json(paths["cover"], {"id": iid})  # the stage writes its per-photo files

    shards.run_shard("s_2020-01-01", ["a", "b"], ["cover", "confusion"], step, "results/coverage/shards/s.json")
    man = json.loads((tmp_path / "results/coverage/shards/s.json").read_text())
    assert list(man["photos"]) == ["a", "b"]
    entry = man["photos"]["a"]
    assert set(entry) == {"cover"}  # a file the step did not write is not listed
    assert entry["cover"]["sha256"] == files.sha256_file("results/coverage/images/a.tsv")


def test_a_shard_that_fails_half_way_leaves_no_manifest(tmp_path):
    os.chdir(tmp_path)

    def step(iid, paths):
        if iid == "b":
            raise RuntimeError("killed")
        files.write_json(paths["cover"], {"id": iid})

    with pytest.raises(RuntimeError):
        shards.run_shard("s", ["a", "b"], ["cover"], step, "m.json")
    assert not (tmp_path / "m.json").exists()  # Snakemake reruns the whole shard
