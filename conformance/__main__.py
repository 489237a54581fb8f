"""``python -m conformance``: run the conformance suite and print a table; exit 1 on any failure."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from conformance.runner import RunOptions, format_table, run_suite
from conformance.suite import GROUPS, ROOT


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--group", "groups", multiple=True, type=click.Choice(GROUPS),
              help="Run only this group (repeatable). Default: all.")
@click.option("-k", "keywords", multiple=True, metavar="NAME",
              help="Run only streams whose name contains NAME (repeatable: any may match).")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="cpu", show_default=True,
              help="Where to render: cpu is the reference; cuda checks the GPU renderer against it.")
@click.option("-v", "--verbose", is_flag=True, help="Also print each faulty stream's message and every note.")
@click.option("--suite", "root", type=click.Path(file_okay=False, exists=True, path_type=Path), default=ROOT,
              show_default=False, help="The suite's folder (the one holding manifest.json); default: this package.")
def main(groups: tuple[str, ...], keywords: tuple[str, ...], device: str, verbose: bool, root: Path) -> None:
    """Decode every conformance stream and check it against its expected results."""
    from gscodec.cli.common import resolve_device
    from gscodec.errors import GscodecError

    try:
        dev = resolve_device(device)
    except GscodecError as exc:
        click.echo(f"conformance: error: {exc}", err=True)
        sys.exit(2)
    opts = RunOptions(root=root, groups=groups or GROUPS, keywords=keywords, device=dev)
    results = run_suite(opts)
    click.echo(format_table(results, verbose))
    click.echo(f"device: {dev}")
    sys.exit(1 if any(r.status == "FAIL" for r in results) else 0)


if __name__ == "__main__":
    main()
