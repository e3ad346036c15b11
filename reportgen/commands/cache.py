"""``reportgen cache info|prune``: show or prune the cache."""

from __future__ import annotations

import argparse

from reportgen.commands import argument_types, options

HELP = "show or prune the cache"
DESCRIPTION = (
    "The cache keeps results, figures, charts, converted models and compiled templates between "
    "runs, keyed by content; it is safe to delete."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="cache_command", required=True, metavar="ACTION")
    info = actions.add_parser(
        "info",
        help="where the cache is and its size by kind",
        description="Show where the cache is and its size and number of entries by kind.",
    )
    options.add_cache_dir(info)
    prune = actions.add_parser(
        "prune",
        help="remove least recently used entries",
        description="Remove the entries unused for longer than --older-than, then the least "
        "recently used ones until the cache is at most --max-size. Refused while another "
        "reportgen command is using the cache.",
    )
    prune.add_argument(
        "--max-size",
        type=argument_types.size_argument,
        metavar="SIZE",
        help="keep at most this much, e.g. 2GB, 500MB, 1.5GiB",
    )
    prune.add_argument(
        "--older-than",
        type=_age,
        metavar="AGE",
        help="remove entries unused for longer than this, e.g. 30d, 12h, 2w",
    )
    options.add_cache_dir(prune)


def run(args: argparse.Namespace) -> None:
    from reportgen import cache

    if args.cache_command == "info":
        print("\n".join(cache.usage(args.cache_dir).lines()))
    else:
        pruned = cache.prune(args.cache_dir, max_size=args.max_size, older_than=args.older_than)
        options.say(pruned.summary())


def _age(text: str) -> float:
    from reportgen.cache import parse_age

    return argument_types.parsed_argument(parse_age, text)
