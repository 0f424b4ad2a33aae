"""The `tsn` Typer app: registers subcommands, global options and the error edge."""

from __future__ import annotations

import errno
import importlib
import importlib.util
import re
import signal
import sys
from typing import Annotated

import typer
from typer.core import CompletionItem, TyperCommand, TyperGroup

from tsncli import __version__
from tsncli.commands import SUMMARIES
from tsncli.errors import Terminated, TsnError
from tsncli.logs import print_error, setup_logging, stderr_console


class TsnGroup(TyperGroup):
    """Turns TsnError into `error: ...` + exit 1 and Ctrl-C into exit 130, without tracebacks."""

    def invoke(self, ctx: typer.Context) -> object:
        try:
            return super().invoke(ctx)
        except TsnError as exc:
            print_error(strip_worker_traceback(str(exc)))
            raise typer.Exit(1) from None
        except Terminated:
            stderr_console.print("terminated (SIGTERM)", markup=False, highlight=False)
            raise typer.Exit(143) from None
        except KeyboardInterrupt:
            stderr_console.print("interrupted", markup=False, highlight=False)
            raise typer.Exit(130) from None
        except OSError as exc:  # an unwritable or unreadable path: one line, never a traceback
            print_error(describe_os_error(exc, ctx.invoked_subcommand))
            raise typer.Exit(1) from None
        except RuntimeError as exc:  # torch.OutOfMemoryError is a RuntimeError
            if not is_out_of_memory(exc):
                raise
            print_error(describe_out_of_memory(ctx.invoked_subcommand))
            raise typer.Exit(1) from None


def is_out_of_memory(exc: BaseException) -> bool:
    """torch out of memory, told by its message so the CLI need not import torch: CUDA's
    "CUDA out of memory" or the CPU allocator's "DefaultCPUAllocator: can't allocate memory"."""
    text = str(exc).lower()
    return type(exc).__name__ == "OutOfMemoryError" or any(
        mark in text for mark in ("can't allocate memory", "out of memory")
    )


# the option that lowers memory per forward pass, by command
_MEMORY_FIXES: dict[str, str] = {
    "train": "lower --micro-batch (the effective batch stays) or --batch-size",
    "eval": "lower --batch (videos per forward pass), --crops or --segments",
}


def describe_out_of_memory(command: str | None) -> str:
    """One line for an out-of-memory that no command turned into its own message."""
    fix = _MEMORY_FIXES.get(command or "", "free memory, or use fewer --workers")
    where = f"tsn {command}: " if command else ""
    return f"{where}out of memory; {fix}"


def strip_worker_traceback(message: str) -> str:
    """A DataLoader worker's error arrives as "Caught X in DataLoader worker process N. Original
    Traceback (...) ... X: message"; keep the worker number and the original message only."""
    if "Original Traceback (most recent call last)" not in message:
        return message
    head = message.split("\n", 1)[0]
    last = [line for line in message.splitlines() if line.strip()][-1]
    original = last.split(": ", 1)[1] if re.match(r"^[\w.]+(Error|Exception): ", last) else last
    worker = re.search(r"worker process \d+", head)
    return f"{original} (in {worker.group(0)})" if worker else original


# errno -> (what it means for the user's path, the fix)
_OS_FIXES: dict[int, str] = {
    errno.ENOSPC: "free some space or choose another output path",
    errno.EDQUOT: "free some of your quota or choose another output path",
    errno.EFBIG: "the file-size limit (ulimit -f) was reached; raise it or write elsewhere",
    errno.EACCES: "check the permissions, or choose a folder you can write to",
    errno.EPERM: "check the permissions, or choose a folder you can write to",
    errno.EROFS: "the file system is read-only; choose another output path",
    errno.EISDIR: "a folder is in the way; give a file path or remove the folder",
    errno.ENOTDIR: "a file is in the way of a folder in this path; remove it or choose another",
    errno.EEXIST: "something is in the way; remove it or choose another path",
    errno.ENAMETOOLONG: "shorten the file or folder name",
    errno.ENOENT: "check the path",
}


def describe_os_error(exc: OSError, command: str | None = None) -> str:
    """One line for an OSError: the path, what failed and the fix (`tsn eval: cannot write ...`)."""
    path = exc.filename if exc.filename is not None else "a file"
    reason = exc.strerror or str(exc)
    verbs = {errno.ENOENT: "cannot read", errno.EACCES: "cannot access"}
    verbs[errno.EPERM] = "cannot access"
    verb = verbs.get(exc.errno or 0, "cannot write")
    fix = _OS_FIXES.get(exc.errno or 0, "check the path and try again")
    where = f"tsn {command}: " if command else ""
    second = f" -> {exc.filename2}" if exc.filename2 is not None else ""
    return f"{where}{verb} {path}{second}: {reason} ({fix})"


class LazyTsnGroup(TsnGroup):
    """The `tsn` group: a subcommand's module is imported when that command is looked up (to run
    it or to show help), never at start-up, and command names complete from `SUMMARIES` alone.
    `tsn flow` then starts without torch and the model code."""

    def list_commands(self, ctx: typer.Context) -> list[str]:
        return [*SUMMARIES, *(name for name in super().list_commands(ctx) if name not in SUMMARIES)]

    def get_command(self, ctx: typer.Context, cmd_name: str) -> TyperCommand | TyperGroup | None:
        if cmd_name not in self.commands and cmd_name in SUMMARIES:
            self.commands[cmd_name] = load_command(cmd_name)
        return super().get_command(ctx, cmd_name)

    def resolve_command(
        self, ctx: typer.Context, args: list[str]
    ) -> tuple[str | None, TyperCommand | TyperGroup | None, list[str]]:
        if args and args[0] not in SUMMARIES and args[0] not in self.commands:
            for name in SUMMARIES:  # not a command: load them all, so typer suggests the nearest
                self.get_command(ctx, name)
        return super().resolve_command(ctx, args)  # type: ignore[return-value]

    def shell_complete(self, ctx: typer.Context, incomplete: str) -> list[CompletionItem]:
        names = [
            CompletionItem(n, help=h) for n, h in SUMMARIES.items() if n.startswith(incomplete)
        ]
        return names + super(TyperGroup, self).shell_complete(ctx, incomplete)  # the options


def load_command(name: str) -> TyperCommand | TyperGroup:
    """The click command of subcommand `name`, built from its module's `register`."""
    module = importlib.import_module(f"tsncli.commands.{name}")
    holder = typer.Typer(rich_markup_mode="rich", pretty_exceptions_enable=False)
    module.register(holder)
    return typer.main.get_group(holder).commands[name]  # type: ignore[return-value]


app = typer.Typer(
    name="tsn",
    cls=LazyTsnGroup,
    help="Temporal Segment Networks, end to end: data, flow, lists, training, testing, fusion.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"tsn {__version__}")
        raise typer.Exit()


@app.callback()
def main_callback(
    verbose: Annotated[
        int, typer.Option("-v", "--verbose", count=True, help="More log detail (-vv for paths).")
    ] = 0,
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="Only warnings and errors.")] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version_callback, is_eager=True, help="Show the version."
        ),
    ] = False,
) -> None:
    """Temporal Segment Networks, end to end."""
    setup_logging(verbose=verbose, quiet=quiet)


def main() -> None:
    """Console-script entry point."""
    run_as_module()
    signal.signal(signal.SIGTERM, _terminate)
    try:
        app()
    except Terminated:  # raised outside a command (e.g. during start-up)
        sys.exit(143)
    except KeyboardInterrupt:
        sys.exit(130)


def _terminate(signum: int, frame: object) -> None:
    """SIGTERM raises in the main thread as Ctrl-C does, so the same clean-up runs."""
    raise Terminated()


def run_as_module() -> None:
    """Make the `tsn` script's `__main__` say it is `tsncli.__main__` (what `python -m tsncli`
    runs: the same program). A spawned worker re-runs a main *script* before its task, which
    here means importing typer, rich and the CLI (~0.15 s per worker, on the critical path of
    every `tsn flow`, eval and training run); a main module named `*.__main__` it skips, as
    nothing a worker runs is defined in it."""
    main = sys.modules.get("__main__")
    if main is not None and getattr(main, "__spec__", None) is None and hasattr(main, "__file__"):
        main.__spec__ = importlib.util.find_spec("tsncli.__main__")
