"""Start-up cost of the pool and of `tsn flow`: a CPU-only run never imports torch (issue 14: ~4
CPU s), and the parent of `tsn flow` imports none of what only its workers need."""

from __future__ import annotations

import subprocess
import sys
import textwrap

RUN_POOL = textwrap.dedent(
    """
    import sys
    from tsncli.parallel import run_pool

    if __name__ == "__main__":
        results = sorted(run_pool(abs, [-1, -2, -3], workers=2))
        print(results, "torch" in sys.modules)
    """
)


def test_a_two_worker_pool_runs_its_tasks_without_importing_torch(tmp_path):
    script = tmp_path / "pool.py"
    script.write_text(RUN_POOL)
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=300, check=True
    )
    assert done.stdout.split("\n")[0] == "[(0, 1), (1, 2), (2, 3)] False"


FLOW_PARENT = textwrap.dedent(
    """
    import sys
    from tsncli.cli import main

    if __name__ == "__main__":
        argv = ["flow", sys.argv[1], sys.argv[2], "--workers", "2", "--algo", "dis"]
        sys.argv = ["tsn", "-q", *argv]
        try:
            main()
        except SystemExit as exc:
            code = exc.code
        heavy = [m for m in ("cv2", "av", "numpy", "torch") if m in sys.modules]
        print(code, heavy)
    """
)


def test_tsn_flow_plans_in_a_parent_that_loads_no_opencv_pyav_numpy_or_torch(tmp_path):
    # the parent's imports are start-up time before the first worker starts (~0.5 CPU s of
    # OpenCV, PyAV and NumPy; torch ~4 s); only the workers need them
    from flow_helpers import moving_video

    for name in ("a", "b", "c"):
        moving_video(tmp_path / "videos" / f"{name}.avi", n=3)
    script = tmp_path / "parent.py"
    script.write_text(FLOW_PARENT)
    out = tmp_path / "frames"
    done = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "videos"), str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.stdout.strip().splitlines()[-1] == "0 []", done.stdout + done.stderr
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["a", "b", "c"]
    assert len(list((out / "a").glob("flow_x_*.jpg"))) == 2


def test_a_task_named_by_module_pickles_without_its_module_and_runs_in_a_worker():
    import pickle

    from tsncli.parallel import ByName, run_pool

    named = ByName("colorsys", "rgb_to_hsv")
    assert b"colorsys" in pickle.dumps(named)  # a name, not the function
    assert named(1.0, 0.0, 0.0) == (0.0, 1.0, 1.0)
    one_arg = ByName("math", "sqrt")
    assert sorted(run_pool(one_arg, [4.0, 9.0], workers=2)) == [(0, 2.0), (1, 3.0)]


CONSOLE_SCRIPT = textwrap.dedent(
    """
    import sys
    from tsncli.cli import run_as_module  # like the `tsn` script: the CLI at module level
    from tsncli.parallel import run_pool

    if __name__ == "__main__":
        if sys.argv[1] == "as-module":
            run_as_module()
        from probe_mod import loaded
        print(sorted(r for _, r in run_pool(loaded, ["tsncli.cli", "tsncli.cli"], workers=2)))
    """
)


def test_spawned_workers_of_the_tsn_script_do_not_import_the_cli_again(tmp_path):
    # spawn re-runs a main *script* in every worker before its task: for `tsn` that is typer,
    # rich and the CLI (~0.15 s each); `run_as_module` (called by `tsn`'s entry point) names the
    # script `tsncli.__main__`, which spawn skips
    (tmp_path / "probe_mod.py").write_text(
        "import sys\n\n\ndef loaded(name):\n    return name in sys.modules\n"
    )
    script = tmp_path / "tsn_like.py"
    script.write_text(CONSOLE_SCRIPT)
    seen = {}
    for mode in ("as-script", "as-module"):
        done = subprocess.run(
            [sys.executable, str(script), mode],
            capture_output=True,
            text=True,
            timeout=300,
            cwd=tmp_path,
        )
        assert done.returncode == 0, done.stderr
        seen[mode] = done.stdout.strip()
    assert seen == {"as-script": "[True, True]", "as-module": "[False, False]"}
