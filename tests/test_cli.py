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
    "features",
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


def test_a_mistyped_command_suggests_the_nearest_one(runner, cli):
    # commands load lazily; the suggestion must still see all of them
    result = runner.invoke(cli, ["flwo"])
    assert result.exit_code == 2
    assert "Did you mean 'flow'?" in result.output


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


def _fresh_modules(statement: str) -> set[str]:
    """The modules a fresh interpreter has loaded after `statement`, among those that matter."""
    import subprocess
    import sys

    probe = (
        f"{statement}\nimport sys\n"
        "print(' '.join(m for m in sys.modules if m.startswith('tsncli.commands.')"
        " and not m.startswith('tsncli.commands._')"
        " or m in ('torch', 'cv2', 'av', 'numpy')))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_the_cli_imports_no_command_until_one_runs():
    # Every `tsn` start-up would otherwise import all commands (torch, OpenCV, PyAV and the
    # model code): about 1 CPU second before anything runs.
    assert _fresh_modules("import tsncli.cli") == set()


def test_command_names_complete_without_importing_any_command():
    loaded = _fresh_modules(
        "import os\nfrom typer.testing import CliRunner\nfrom tsncli.cli import app\n"
        "env = {'_TSN_COMPLETE': 'complete_bash', 'COMP_WORDS': 'tsn f', 'COMP_CWORD': '1'}\n"
        "out = CliRunner().invoke(app, [], env=env, prog_name='tsn').output.split()\n"
        "assert out == ['fetch', 'flow', 'fuse', 'features'], out"
    )
    assert loaded == set()


def test_a_command_imports_only_its_own_module():
    loaded = _fresh_modules(
        "from typer.testing import CliRunner\nfrom tsncli.cli import app\n"
        "assert CliRunner().invoke(app, ['fuse', '--help']).exit_code == 0"
    )
    assert {m for m in loaded if m.startswith("tsncli.")} == {"tsncli.commands.fuse"}


def test_each_command_has_the_summary_of_the_command_table(runner, cli):
    from tsncli.cli import load_command
    from tsncli.commands import SUMMARIES

    for name, summary in SUMMARIES.items():
        assert load_command(name).help == summary, name
    listed = runner.invoke(cli, ["--help"]).output
    rows = [line.split()[1] for line in listed.splitlines() if line.startswith("│ ")]
    assert [row for row in rows if row in SUMMARIES] == list(SUMMARIES)  # the pipeline order


@pytest.mark.parametrize(
    "message",
    [
        "[enforce fail at alloc_cpu.cpp:117] . DefaultCPUAllocator: can't allocate memory: "
        "you tried to allocate 123 bytes",
        "CUDA out of memory. Tried to allocate 20.00 GiB",
    ],
)
def test_out_of_memory_in_eval_is_one_line_naming_batch(
    runner, cli, monkeypatch, tmp_path, message
):
    import tsncli.engine.eval.evaluate as evaluate

    (tmp_path / "ck.pt").write_bytes(b"x")
    (tmp_path / "list.txt").write_text("v 3 0\n")
    monkeypatch.chdir(tmp_path)

    def oom(*args, **kwargs):
        raise RuntimeError(message)

    monkeypatch.setattr(evaluate, "evaluate", oom)
    result = runner.invoke(cli, ["eval", "ck.pt", "--list", "list.txt", "--save-scores", "s.npz"])
    assert result.exit_code == 1, result.output
    assert result.output.strip().startswith("error: tsn eval: out of memory; lower --batch")
    assert len(result.output.strip().splitlines()) == 1 and "alloc_cpu" not in result.output
