"""Shell completion scripts, generated from the app; `completions/` holds committed copies.

The scripts call back into `tsn` (Typer/Click's protocol), so subcommands, options and registry
values (datasets, architectures, flow algorithms) complete from the installed code.
"""

from __future__ import annotations

from tsncli.errors import UsageError

SHELLS = ("bash", "zsh", "fish")
COMPLETE_VAR = "_TSN_COMPLETE"


def render_completion(shell: str) -> str:
    """The completion script for `shell`, ending with a newline."""
    if shell not in SHELLS:
        raise UsageError(f"unknown shell {shell!r}; use one of: {', '.join(SHELLS)}")
    from typer._completion_shared import get_completion_script

    return get_completion_script(prog_name="tsn", complete_var=COMPLETE_VAR, shell=shell) + "\n"
