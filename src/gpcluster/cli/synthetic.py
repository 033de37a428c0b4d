"""`gpcluster synthetic write`: the synthetic Scotland's files (PHS layouts) without loading them, e.g. at
8 times Scotland's size for benchmarks. Thin: parse arguments, call gpcluster.synthetic, print."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

console = Console()
synthetic_app = typer.Typer(help="The synthetic Scotland: write its files.", no_args_is_help=True)


@synthetic_app.command("write")
def write(
    out: Path = typer.Argument(..., help="Folder for the files (made if missing)."),
    seed: int | None = typer.Option(None, help="Seed (default: the synthetic_seed setting)."),
    quarters: int = typer.Option(36, min=1, help="Quarterly releases from April 2016."),
    scale: int = typer.Option(1, "--scale", min=1, max=14,
                              help="Copies of Scotland side by side, with distinct codes (8 is about England)."),
) -> None:
    """Write a SYNTHETIC Scotland (or SCALE copies of it) as PHS-format files; load them with
    `gpcluster load --synthetic OUT` into a warehouse of their own."""
    from gpcluster import config
    from gpcluster.cli.progress import stages
    from gpcluster.synthetic import write_synthetic_scotland

    seed = config.get("synthetic_seed") if seed is None else seed
    with stages(console, f"Writing {scale} synthetic Scotland(s) to {out}") as step:
        step("Simulating practices, lists, events and activity, and writing the files")
        written = write_synthetic_scotland(out, seed, quarters=quarters, scale=scale)
    console.print(f"wrote {len(written)} SYNTHETIC files to {out} (seed {seed}, scale {scale})")


def register(app: typer.Typer) -> None:
    app.add_typer(synthetic_app, name="synthetic")
