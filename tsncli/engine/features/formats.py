"""The per-video feature files `tsn features` writes (npy, csv, pkl): one entry per format.

- npy: `np.save` of float32 (T, D).
- csv: MMAction2's writer (`activitynet_feature_postprocessing.py`): a header
  `f0,...,f{D-1}`, then one row per step, each value `f'{x:.4f}'`, lines joined by `\\n` with
  no newline after the last. BSN's own `csv_mean_100` files were written by pandas at full
  precision; `pd.read_csv` (BSN, BMN) and `np.loadtxt(skiprows=1)` (MMAction2) read both alike.
- pkl: what MMAction2 dumps with `mmengine.dump` (pickle protocol 2): the array itself, here
  float32 (T, D) (MMAction2's pooled arrays are float64). Read only pickles you trust: loading
  one can run code.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tsncli.errors import DataError, UsageError
from tsncli.fsutil import atomic_path


def _write_npy(path: Path, features: np.ndarray) -> None:
    with path.open("wb") as handle:  # a handle: np.save would add .npy to the temporary name
        np.save(handle, features, allow_pickle=False)


def _read_npy(path: Path) -> np.ndarray:
    return np.load(path, allow_pickle=False)


def _write_csv(path: Path, features: np.ndarray) -> None:
    lines = [",".join(f"f{i}" for i in range(features.shape[1]))]
    lines += [",".join(f"{x:.4f}" for x in row) for row in features.tolist()]
    path.write_bytes("\n".join(lines).encode("ascii"))


def _read_csv(path: Path) -> np.ndarray:
    with path.open(encoding="ascii") as handle:
        header = handle.readline().strip()
        dims = len(header.split(",")) if header else 0
        values = np.loadtxt(handle, dtype=np.float32, delimiter=",", ndmin=1)
    return values.reshape(-1, dims)  # (T, D), also when T or D is 1


def _write_pkl(path: Path, features: np.ndarray) -> None:
    with path.open("wb") as handle:
        pickle.dump(features, handle, protocol=2)  # mmengine's PickleHandler default


def _read_pkl(path: Path) -> np.ndarray:
    with path.open("rb") as handle:
        return np.asarray(pickle.load(handle))  # noqa: S301 - the caller trusts the file


@dataclass(frozen=True)
class FeatureFormat:
    """One output format: its file suffix and how a float32 (T, D) array goes to and from it."""

    suffix: str
    write: Callable[[Path, np.ndarray], None]
    read: Callable[[Path], np.ndarray]


_FORMATS: dict[str, FeatureFormat] = {
    "npy": FeatureFormat(".npy", _write_npy, _read_npy),
    "csv": FeatureFormat(".csv", _write_csv, _read_csv),
    "pkl": FeatureFormat(".pkl", _write_pkl, _read_pkl),
}
FORMATS = tuple(_FORMATS)
FORMAT_SUFFIX = {name: spec.suffix for name, spec in _FORMATS.items()}


def feature_format(fmt: str) -> FeatureFormat:
    """The entry of `fmt`; an unknown one is a UsageError listing FORMATS."""
    try:
        return _FORMATS[fmt]
    except KeyError:
        raise UsageError(
            f"unknown feature format {fmt!r}; use one of: {', '.join(FORMATS)}"
        ) from None


def write_features(path: Path, features: np.ndarray, fmt: str) -> Path:
    """Write `features` (T, D) in `fmt`, atomically; return the path written. npy and pkl store
    float32; CSV formats the values as given (rescaled features are float64, as MMAction2's
    pooled values are, so the 4-decimal text is the same as its script writes).

    The format's suffix is added to `path` unless its name already ends with it: `v_abc` and
    `v_abc.csv` both give `v_abc.csv`, and a name with other dots keeps them (`clip.v2.csv`).
    """
    spec = feature_format(fmt)
    array = np.asarray(features)
    if fmt != "csv" or array.dtype != np.float64:
        array = array.astype(np.float32)
    if array.ndim != 2:
        raise DataError(f"features to write must be (steps, dims), got shape {array.shape}")
    path = Path(path)
    target = path if path.name.endswith(spec.suffix) else path.with_name(path.name + spec.suffix)
    with atomic_path(target) as tmp:
        spec.write(tmp, array)
    return target


def read_features(path: Path) -> np.ndarray:
    """Read a feature file written in any of FORMATS (picked by its suffix) as float32 (T, D).

    A .pkl file is unpickled: read only files you trust, as loading a pickle can run code.
    """
    path = Path(path)
    by_suffix = {spec.suffix: spec for spec in _FORMATS.values()}
    spec = by_suffix.get(path.suffix)
    if spec is None:
        raise UsageError(
            f"cannot read features from {path}: its suffix is not one of "
            f"{', '.join(by_suffix)} ({', '.join(FORMATS)})"
        )
    try:
        array = np.asarray(spec.read(path), dtype=np.float32)
    except (ValueError, TypeError, UnicodeDecodeError, pickle.UnpicklingError, EOFError) as exc:
        raise DataError(f"{path} is not a readable feature file ({exc}); write it again") from exc
    if array.ndim != 2:
        raise DataError(f"{path} holds an array of shape {array.shape}, not (steps, dims)")
    return array
