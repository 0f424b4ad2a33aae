"""`tsn unpack`: Safely extract RAR/ZIP archives, HMDB51's RAR of RARs included."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from tsncli.commands import SUMMARIES
from tsncli.commands._common import example, output_folder
from tsncli.commands._progress import ProgressView
from tsncli.errors import UsageError
from tsncli.specs.datasets import DATASETS, unpackable_datasets

log = logging.getLogger("tsncli.unpack")

SUMMARY = SUMMARIES["unpack"]
_DATASETS = unpackable_datasets()


def _one_of(names: list[str]) -> str:
    """`a`, `a or b`, `a, b or c`."""
    return " or ".join(filter(None, (", ".join(names[:-1]), names[-1])))


def complete_target(incomplete: str) -> list[str]:
    """Shell completion for the first argument: the datasets `tsn unpack` knows."""
    return [name for name in _DATASETS if name.startswith(incomplete)]


def _generic(paths: list[str], dest: Path | None, force: bool) -> None:
    from tsncli.acquire.archives import ARCHIVE_SUFFIXES, extract_archive

    if dest is None and len(paths) == 2 and not paths[1].lower().endswith(ARCHIVE_SUFFIXES):
        paths, dest = paths[:1], Path(paths[1])  # `tsn unpack ARCHIVE DEST`
    for raw in paths:
        if not Path(raw).is_file():
            known = ", ".join(_DATASETS)
            raise UsageError(f"{raw}: no such archive; give {known} or a .rar/.zip path")
    with ProgressView() as show:
        for raw in paths:
            archive = Path(raw)
            folder = dest or archive.with_suffix("")
            status = extract_archive(archive, folder, force=force, on_progress=show)
            redo = " (unpacked before; --force unpacks again)" if status == "skipped" else ""
            log.info("%s: %s -> %s%s", status, archive, folder, redo)
            typer.echo(str(folder))


def unpack_command(
    target: Annotated[
        str,
        typer.Argument(
            help=f"{_one_of(_DATASETS)} (dataset-aware), or a .rar/.zip archive.",
            autocompletion=complete_target,
            show_default=False,
        ),
    ],
    archives: Annotated[
        list[str] | None,
        typer.Argument(
            help="Dataset archives (default: the catalog's files in --dest); or a DEST folder.",
            show_default=False,
        ),
    ] = None,
    dest: Annotated[
        Path | None,
        typer.Option(
            help="Output folder (default: data/<dataset>, or beside the archive).",
            callback=output_folder,
        ),
    ] = None,
    force: Annotated[
        bool,
        typer.Option(
            help="Unpack again even if done before, replacing files that differ from the archive."
        ),
    ] = False,
) -> None:
    """Unpack a dataset into DEST/videos/<Class>/<video>.avi and DEST/splits/, or any archive.

    Member paths are checked first: absolute paths, `..`, device files and links that leave DEST
    are refused. Work happens in temporary folders, so an interrupted run resumes.
    """
    if target not in _DATASETS:
        _generic([target, *(archives or [])], dest, force)
        return
    from tsncli.acquire.unpack import unpack_dataset

    with ProgressView() as show:
        summary = unpack_dataset(target, archives, dest, force=force, on_progress=show)
    for part in summary.skipped:
        log.info("%s/ already unpacked (use --force to redo)", part)
    log.info(
        "%s: %d videos in %d classes, %d split files under %s",
        target,
        summary.videos,
        summary.classes,
        summary.splits,
        summary.dest,
    )
    typer.echo(str(summary.dest))


def _archives_in_downloads(dataset: str) -> str:
    download = DATASETS.get(dataset).download
    return " ".join(f"~/Downloads/{f.filename}" for f in download.files) if download else ""


def register(app: typer.Typer) -> None:
    app.command(
        name="unpack",
        help=SUMMARY,
        epilog=example(
            f"tsn unpack {_DATASETS[0]}",
            f"tsn unpack {_DATASETS[-1]} {_archives_in_downloads(_DATASETS[-1])}",
            "tsn unpack archive.zip out/",
        ),
    )(unpack_command)
