"""Regenerate completions/tsn.{bash,zsh,fish} from the app. Run after changing the CLI."""

from pathlib import Path

from tsncli.completions import SHELLS, render_completion

root = Path(__file__).resolve().parent.parent
for shell in SHELLS:
    (root / "completions" / f"tsn.{shell}").write_text(render_completion(shell), encoding="utf-8")
    print(f"wrote completions/tsn.{shell}")
