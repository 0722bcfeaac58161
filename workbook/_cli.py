"""The command line: one argparse parser; each command lives beside what it drives."""

from __future__ import annotations

import argparse

from ._exercises.cli import register


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="workbook", description="The FastAPI background-work workbook."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    doctor = commands.add_parser("doctor", help="preflight: versions, Redis, app, three queues")
    doctor.add_argument("--json", action="store_true", help="print the checks as JSON")
    doctor.set_defaults(run=_run_doctor)
    register(commands)
    lab = commands.add_parser(
        "lab", help="JupyterLab on notebook 00 (what `make lab` runs); more Jupyter options follow"
    )
    lab.set_defaults(run=_run_lab)
    return parser


def _run_lab(args: argparse.Namespace) -> int:
    from ._lab import run

    run(args.jupyter_options)
    return 0  # not reached: run() becomes the server


def _run_doctor(args: argparse.Namespace) -> int:
    from ._doctor import run_cli

    return run_cli(as_json=args.json)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    if rest and args.command != "lab":
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    args.jupyter_options = rest
    return int(args.run(args) or 0)
