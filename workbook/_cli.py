"""The command line: one argparse parser; each command lives beside what it drives."""

from __future__ import annotations

import argparse

from ._exercise_cli import register


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m workbook", description="The FastAPI background-work workbook."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    doctor = commands.add_parser("doctor", help="preflight: versions, Redis, app, three queues")
    doctor.add_argument("--json", action="store_true", help="print the checks as JSON")
    doctor.set_defaults(run=_run_doctor)
    register(commands)
    return parser


def _run_doctor(args: argparse.Namespace) -> int:
    from ._doctor import run_cli

    return run_cli(as_json=args.json)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.run(args) or 0)
