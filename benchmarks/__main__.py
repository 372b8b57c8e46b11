"""`python -m benchmarks <name> [options]`: run one benchmark; each lives in its own module."""
from __future__ import annotations

import argparse
import sys

from benchmarks import fuzz, gap, scale

BENCHMARKS = {"gap": gap, "fuzz": fuzz, "scale": scale}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    commands = parser.add_subparsers(dest="benchmark", metavar="BENCHMARK")
    for name, module in BENCHMARKS.items():
        module.add_arguments(commands.add_parser(name, help=module.__doc__.splitlines()[0],
                                                 description=module.__doc__,
                                                 formatter_class=argparse.RawDescriptionHelpFormatter))
    args = parser.parse_args(argv)
    if args.benchmark is None:
        parser.print_help()
        return 2
    return BENCHMARKS[args.benchmark].run(args)


if __name__ == "__main__":
    sys.exit(main())
