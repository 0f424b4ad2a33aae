"""The CLI edge: help, version, global options, exit codes and one-line errors."""

from __future__ import annotations

import pytest

from tsncli import __version__
from tsncli.errors import DataError

SUBCOMMANDS = [
    "fetch",
    "unpack",
    "flow",
    "lists",
    "train",
    "eval",
    "fuse",
    "predict",
    "convert",
    "export",
]


def test_help_lists_every_subcommand_with_a_summary(runner, cli):
    result = runner.invoke(cli, ["--help"])
    assert result.exit_code == 0
    for name in SUBCOMMANDS:
        assert name in result.output


def test_no_arguments_shows_help(runner, cli):
    result = runner.invoke(cli, [])
    assert "Usage" in result.output
    assert "fetch" in result.output


@pytest.mark.parametrize("name", SUBCOMMANDS + ["completion"])
def test_each_subcommand_help_shows_an_example(runner, cli, name):
    result = runner.invoke(cli, [name, "--help"])
    assert result.exit_code == 0, result.output
    assert "Example" in result.output
    assert f"tsn {name}" in result.output


def test_version_prints_the_package_version(runner, cli):
    result = runner.invoke(cli, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"tsn {__version__}"


def test_global_verbose_and_quiet_are_accepted(runner, cli):
    assert runner.invoke(cli, ["-v", "completion", "bash"]).exit_code == 0
    assert runner.invoke(cli, ["-q", "completion", "bash"]).exit_code == 0
    assert runner.invoke(cli, ["-vv", "--quiet", "completion", "bash"]).exit_code == 0


def test_unknown_option_is_a_usage_error_with_exit_2(runner, cli):
    result = runner.invoke(cli, ["--no-such-option"])
    assert result.exit_code == 2
    assert "No such option" in result.output


def test_unknown_subcommand_is_a_usage_error_with_exit_2(runner, cli):
    result = runner.invoke(cli, ["frobnicate"])
    assert result.exit_code == 2


def test_core_error_becomes_one_line_error_and_exit_1(runner, cli):
    result = runner.invoke(cli, ["completion", "tcsh"])
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert lines == ["error: unknown shell 'tcsh'; use one of: bash, zsh, fish"]
    assert "Traceback" not in result.output


def test_multiline_core_error_is_folded_into_one_line(runner, cli, monkeypatch):
    import tsncli.commands.completion as completion

    def boom(shell: str) -> str:
        raise DataError("frames are missing\nrun `tsn flow` first")

    monkeypatch.setattr(completion, "render_completion", boom)
    result = runner.invoke(cli, ["completion", "bash"])
    assert result.exit_code == 1
    assert result.output.strip() == "error: frames are missing run `tsn flow` first"


def test_ctrl_c_exits_130_without_traceback(runner, cli, monkeypatch):
    import tsncli.commands.completion as completion

    def interrupted(shell: str) -> str:
        raise KeyboardInterrupt

    monkeypatch.setattr(completion, "render_completion", interrupted)
    result = runner.invoke(cli, ["completion", "bash"])
    assert result.exit_code == 130
    assert "Traceback" not in result.output


def test_unexpected_exceptions_keep_their_traceback(runner, cli, monkeypatch):
    import tsncli.commands.completion as completion

    def bug(shell: str) -> str:
        raise ZeroDivisionError("internal bug")

    monkeypatch.setattr(completion, "render_completion", bug)
    result = runner.invoke(cli, ["completion", "bash"])
    assert result.exit_code == 1
    assert isinstance(result.exception, ZeroDivisionError)


def test_python_dash_m_runs_the_cli():
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-m", "tsncli", "--version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == f"tsn {__version__}"


def test_long_error_messages_are_not_wrapped(runner, cli, monkeypatch):
    import tsncli.commands.completion as completion

    long_message = "missing frames under " + "/very/long/path" * 12 + "; run `tsn flow` first"

    def fail(shell: str) -> str:
        raise DataError(long_message)

    monkeypatch.setattr(completion, "render_completion", fail)
    result = runner.invoke(cli, ["completion", "bash"])
    assert result.exit_code == 1
    assert result.output.splitlines() == [f"error: {long_message}"]
