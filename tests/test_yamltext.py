"""libyaml's C emitter and PyYAML's own write the same bytes: the plan is the same with either."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from hybrid_infra import yamltext
from hybrid_infra.offline.plan import run_plan, write_plan
from tests.conftest import STACKS

pytestmark = pytest.mark.skipif(not yamltext.LIBYAML, reason="PyYAML was built without libyaml")


def written(out: Path) -> dict[str, bytes]:
    return {str(path.relative_to(out)): path.read_bytes() for path in sorted(out.rglob("*")) if path.is_file()}


def test_both_emitters_write_the_same_dev_plan(tmp_path, monkeypatch):
    """Every cloud-config (CA keys shown), every manifest and plan.json, byte for byte."""
    write_plan(run_plan(STACKS, "dev"), tmp_path / "libyaml", show_secrets=True)
    monkeypatch.setattr(yamltext, "LIBYAML", False)
    write_plan(run_plan(STACKS, "dev"), tmp_path / "python", show_secrets=True)
    fast, pure = written(tmp_path / "libyaml"), written(tmp_path / "python")
    assert len([name for name in fast if name.startswith("nodes/")]) == 8
    assert fast.keys() == pure.keys()
    assert [name for name in fast if fast[name] != pure[name]] == []


def test_the_emitter_follows_pyyaml(monkeypatch):
    assert yamltext.dump({"a": 1}, sort_keys=False) == "a: 1\n"
    monkeypatch.setattr(yamltext, "LIBYAML", False)
    assert yamltext.dump({"a": 1}, sort_keys=False) == yaml.safe_dump({"a": 1})


@pytest.mark.parametrize(
    "text",
    [
        "x" * 5000,
        " ".join(["word"] * 100),
        "line\n  indented\n\ntrailing space \n",
        "tab\there: and a colon",
        "ünïcode and 😀 and \u2028",
        "\ufeffbyte order mark",
        "a\r\nb",
        "",
        "\n",
        " leading",
        "null",
        "0o17",
        "# not a comment",
    ],
)
@pytest.mark.parametrize("literal_blocks", [False, True])
@pytest.mark.parametrize("width", [None, 4096])
def test_both_emitters_agree_where_styles_are_chosen(text, literal_blocks, width):
    """Strings where an emitter chooses quoting, folding or block style."""
    document = {"file": text, "list": [text, {"nested": text}]}
    outputs = {
        fast: yamltext.dump(document, sort_keys=False, literal_blocks=literal_blocks, width=width, fast=fast)
        for fast in (True, False)
    }
    assert outputs[True] == outputs[False]
    assert yaml.safe_load(outputs[True]) == document
    assert yamltext.dump_all([document, document], sort_keys=True) == yamltext.dump_all(
        [document, document], sort_keys=True, fast=False
    )
