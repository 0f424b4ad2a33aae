"""Shell completion: committed scripts are current, and subcommands/options complete."""

from __future__ import annotations

from pathlib import Path

import pytest

from tsncli.completions import SHELLS, render_completion

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("shell", SHELLS)
def test_committed_completion_script_is_current(shell):
    committed = (ROOT / "completions" / f"tsn.{shell}").read_text(encoding="utf-8")
    assert committed == render_completion(shell), (
        f"completions/tsn.{shell} is stale; run `python scripts/gen_completions.py`"
    )


def complete_bash(runner, cli, words: str) -> list[str]:
    cword = len(words.split()) - (0 if words.endswith(" ") else 1)
    env = {"_TSN_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": str(cword)}
    result = runner.invoke(cli, [], env=env, prog_name="tsn")
    assert result.exit_code == 0, result.output
    return result.output.split()


def test_subcommands_complete(runner, cli):
    assert complete_bash(runner, cli, "tsn fl") == ["flow"]
    assert set(complete_bash(runner, cli, "tsn f")) == {"fetch", "flow", "fuse", "features"}


def test_global_options_complete(runner, cli):
    assert "--version" in complete_bash(runner, cli, "tsn --ver")


def test_completion_command_prints_the_script(runner, cli):
    result = runner.invoke(cli, ["completion", "fish"])
    assert result.exit_code == 0
    assert result.output == render_completion("fish")


def test_registry_values_complete_for_arch_algo_and_dataset(runner, cli):
    from tsncli.specs.backbones import BACKBONES

    archs = complete_bash(runner, cli, "tsn train toy rgb --arch ")
    assert archs == BACKBONES.names()
    assert complete_bash(runner, cli, "tsn train toy rgb --arch res") == [
        n for n in BACKBONES.names() if n.startswith("res")
    ]
    assert "warp_tvl1" in complete_bash(runner, cli, "tsn flow a b --algo ")
    assert "hmdb51" in complete_bash(runner, cli, "tsn lists ")
