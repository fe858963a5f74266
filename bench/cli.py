"""``bench``: the command line. Imports nothing heavy until a command needs it.

Expected errors (bad boards, flags, files) print one line and exit with code 2; a run whose
machines were all lost (``LostRun``) prints one line and exits with code 1.
"""

from __future__ import annotations

import argparse
import sys

from bench.errors import BenchError, LostRun


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="bench", description="Adversarial robustness benchmark for LLM detoxification."
    )
    sub = p.add_subparsers(dest="cmd", required=True)

    r = sub.add_parser("run", help="plan and run a board's grid (methods × attacks × seeds)")
    r.add_argument(
        "--board", default="tiny", help="board name (see `bench ls boards`) or path to a board YAML"
    )
    r.add_argument(
        "--method",
        type=_csv,
        help="comma-separated methods (default: the board's run_methods); none is always added",
    )
    r.add_argument(
        "--attacks", type=_csv, help="comma-separated attacks (default: the board's run_attacks); '' for none"
    )
    r.add_argument(
        "--model",
        action="append",
        help="model name or local folder, replacing the board's models (repeatable)",
    )
    r.add_argument("--seeds", type=int, help="run seeds 0..N-1 instead of the board's seeds")
    r.add_argument(
        "--set",
        dest="sets",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override any board value, e.g. methods.dpo.beta=0.2 (value parsed as YAML)",
    )
    r.add_argument(
        "--dry-run",
        action="store_true",
        help="validate the board and this machine (packages, device, downloads) and show the plan; compute nothing",
    )
    r.add_argument(
        "--plan-only",
        action="store_true",
        help="with --dry-run: check the board file and every name in it, not this machine",
    )
    r.add_argument(
        "--executor",
        choices=["local", "ray"],
        default="local",
        help="run cells locally or on Ray (lanes of actors)",
    )
    r.add_argument("--address", help="Ray cluster address (default: start a local Ray instance)")
    r.add_argument(
        "--limit",
        type=int,
        metavar="N",
        help="a smoke run: N evaluation prompts, one seed, every training and attack at its fewest "
        "steps (its own cache keys: never mixed with full results)",
    )
    r.add_argument("--quiet", action="store_true", help="no progress output")
    r.add_argument(
        "--wide", action="store_true", help="every column of the results table, whatever the width"
    )

    ls = sub.add_parser("ls", help="list methods, attacks, scorers, generators and boards")
    ls.add_argument(
        "kind",
        nargs="?",
        choices=["methods", "attacks", "scorers", "generators", "boards"],
        help="(default: all)",
    )
    ls.add_argument("--board", default="tiny", help="whose named variants to list with methods and attacks")

    sh = sub.add_parser("show", help="a plugin's settings: each Config field, its default and its comment")
    sh.add_argument("kind", choices=["method", "attack", "scorer", "generator"])
    sh.add_argument("name", help="plugin name (see `bench ls`)")

    res = sub.add_parser("results", help="the latest result row of every cell")
    res.add_argument("--board", help="only this board")
    fmt = res.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="one JSON object per line (intervals in ci95)")
    fmt.add_argument(
        "--csv", action="store_true", help="CSV with a header, the rate's interval as ci_low, ci_high"
    )
    res.add_argument("--wide", action="store_true", help="every column of the table, whatever the width")

    lb = sub.add_parser(
        "leaderboard", help="write leaderboards/BOARD/LEADERBOARD.md and figures from results"
    )
    lb.add_argument("board", nargs="?", default="tiny", help="board name (default: tiny)")
    lb.add_argument("--out", help="output folder (default: leaderboards/BOARD in the current folder)")
    lb.add_argument(
        "--from-results",
        nargs="?",
        const="",
        default=None,
        metavar="DIR",
        help="render from committed results alone, not the store (default DIR: leaderboards/BOARD/results; "
        "a store with no result of the board falls back on it by itself)",
    )
    lb.add_argument(
        "--replace",
        action="store_true",
        help="overwrite the committed board even if the store's runs do not cover all its cells "
        "(otherwise such a board is written to $BENCH_HOME/leaderboards/BOARD)",
    )

    # --- bench export (bench/report/export/) ---
    ex = sub.add_parser(
        "export",
        help="write Every Eval Ever records, per-sample Parquet and a dataset card from the store",
    )
    ex.add_argument("board", nargs="?", default="tiny", help="board name (default: tiny)")
    ex.add_argument("--out", help="output folder (default: $BENCH_HOME/exports/BOARD)")
    ex.add_argument(
        "--push-to-hub",
        metavar="REPO",
        help="upload the folder to this Hugging Face dataset repo (needs a token and the hub online)",
    )
    # --- end bench export ---

    sub.add_parser("gc", help="remove store artifacts that no run record references")

    pr = sub.add_parser("pairs", help="build (prompt, benign, toxic) preference pairs for any model")
    pr.add_argument("--model", required=True, help="model name or local folder")
    pr.add_argument("--prompts", required=True, help="JSONL of prompts ({'prompt': ...})")
    pr.add_argument("--out", required=True, help="output JSONL (prompt_text, unpert_gen_text, pert_gen_text)")
    pr.add_argument(
        "--toxic",
        choices=["bestofn", "steer"],
        default="bestofn",
        help="how toxic continuations are made: best-of-n under the scorer, or probe steering",
    )
    pr.add_argument("--n", type=int, default=8, help="samples per prompt for best-of-n")
    pr.add_argument("--probe-data", help="steer: JSONL of labelled texts ({'text', 'toxic'}) for the probe")
    pr.add_argument("--alpha", type=float, default=8.0, help="steer: strength of the added probe direction")
    pr.add_argument("--scorer", default="profanity", help="scorer plugin used for best-of-n and the report")
    pr.add_argument("--max-new-tokens", type=int, default=20, help="continuation length")
    pr.add_argument("--seed", type=int, default=0, help="sampling seed")
    pr.add_argument(
        "--splits",
        metavar="DIR",
        help="also write the data roles to DIR: train.jsonl, attack.jsonl, probe.jsonl (pairs), "
        "relearn.jsonl (texts) and roles.json (sizes, sha256), split as a board splits data.pairs",
    )
    pr.add_argument("--probe-pairs", type=int, default=400, help="--splits: pairs held out for probes")
    pr.add_argument("--relearn-pairs", type=int, default=64, help="--splits: pairs held out for relearning")
    pr.add_argument("--attack-pairs", type=int, default=32, help="--splits: pairs held out for attacks")
    pr.add_argument("--split-seed", type=int, default=0, help="--splits: seed of the split")
    return p


def cmd_ls(args) -> int:
    if args.kind in (None, "methods", "attacks"):  # a bad --board is one line before anything is listed
        from bench.board.load import board_path

        board_path(args.board)
    if args.kind is None:  # every kind, each under its heading
        for kind in ("methods", "attacks", "scorers", "generators", "boards"):
            print(f"{kind}:")
            sys.stdout.flush()
            cmd_ls(argparse.Namespace(kind=kind, board=args.board))
            print()
        return 0
    if args.kind == "boards":
        from importlib import resources

        root = resources.files("bench.leaderboards")
        for d in sorted(root.iterdir(), key=lambda d: d.name):
            if (d / "board.yaml").is_file():
                import yaml

                desc = (yaml.safe_load((d / "board.yaml").read_text()) or {}).get("description", "")
                print(f"{d.name}\t{' '.join(str(desc).split())}")
        return 0
    from bench.registry import available

    for name, (_, desc) in sorted(available(args.kind).items()):
        print(f"{name}\t{desc}")
    if args.kind in ("methods", "attacks"):  # the named variants of one board (--board)
        for name, cfg in _variants(args.kind, args.board):
            settings = ", ".join(f"{k}={v}" for k, v in cfg.items() if k != "use")
            print(f"{name}\tvariant of {cfg['use']} (board {args.board}): {settings}")
    return 0


def _variants(kind: str, board: str) -> list[tuple[str, dict]]:
    from bench.board.load import board_path, read_yaml

    section = read_yaml(board_path(board)).get(kind) or {}
    return [(n, c) for n, c in section.items() if isinstance(c, dict) and "use" in c]


def cmd_show(args) -> int:
    from bench.run.describe import plugin_settings

    print(plugin_settings(args.kind + "s", args.name))
    return 0


def cmd_run(args) -> int:
    from bench.board.load import load_plan
    from bench.cores import check_environment
    from bench.progress import Reporter

    check_environment()  # BENCH_THREADS, BENCH_SLOT_SHARE, BENCH_PROGRESS: with the flags, before the plan
    if args.plan_only and not args.dry_run:
        raise BenchError("--plan-only goes with --dry-run (a run always checks the machine first)")
    sets = args.sets
    if args.limit is not None:
        from bench.board.load import limit_sets

        sets = [*limit_sets(args.board, args.method, args.attacks, args.limit, args.model), *sets]
    seeds = 1 if args.limit is not None and args.seeds is None else args.seeds
    plan = load_plan(args.board, args.method, args.attacks, sets, args.model, seeds, args.dry_run)
    reporter = Reporter(quiet=args.quiet)
    for warning in plan.warnings:
        reporter.line(f"[yellow]warning:[/yellow] {warning}")
    from bench.run.describe import describe

    describe(plan, reporter)
    if not args.plan_only:  # before any model loads: what this machine lacks, in one line
        from bench.board import machine

        found = machine.needs(plan)
        missing = machine.problems(plan, found)
        if args.dry_run and found:
            reporter.line("needs: " + "; ".join(f"{n.what} {n.name}: {n.status}" for n in found))
        if missing:
            raise BenchError(
                f"board {plan.board.name} cannot run on this machine: {'; '.join(missing)}"
                + (" (--plan-only checks the board file alone)" if args.dry_run else "")
            )
    if args.dry_run:
        what = "board and every plugin config are valid" + (
            "" if args.plan_only else "; this machine has what it needs"
        )
        reporter.line(f"dry run: {what}; nothing computed")
        return 0
    if args.executor == "ray":
        from bench.run.ray_executor import run_ray

        run_dir = run_ray(plan, reporter, args.address)
    else:
        from bench.run.local import run

        run_dir = run(plan, reporter)
    from bench.run.describe import print_results, print_time_summary

    print_results(run_dir, reporter, args.wide)
    if not args.quiet:
        print_time_summary(run_dir, reporter)
    return 0


def cmd_results(args) -> int:
    import json

    from bench.record.runs import latest_rows, mark_stale

    rows = mark_stale(latest_rows(args.board))
    if not rows:
        from bench.record.runs import board_known

        if args.board and not board_known(args.board):
            raise BenchError(f"unknown board '{args.board}': no board by that name and no run of it")
        msg = f"no results for board '{args.board}' yet" if args.board else "no results yet"
        print(
            msg, file=sys.stderr if args.json or args.csv else sys.stdout
        )  # --json/--csv keep stdout data-only
        return 0
    if args.json:
        for row in rows:
            print(json.dumps(row, sort_keys=True))
        return 0
    if args.csv:
        from bench.run.describe import write_csv

        write_csv(rows, sys.stdout)
        return 0
    from bench.progress import console
    from bench.run.describe import print_table

    print_table(console(sys.stdout), rows, args.wide)
    if any(r["stale"] for r in rows):
        print("(stale: computed under a config the board no longer has)")
    return 0


def cmd_leaderboard(args) -> int:
    from bench.report.leaderboard import write_leaderboard

    path = write_leaderboard(args.board, args.out, args.from_results, args.replace)
    print(path)
    return 0


def cmd_export(args) -> int:
    from bench.report.export import export

    folder, summary = export(args.board, args.out, args.push_to_hub)
    print(folder)
    if summary.get("pushed"):
        print(summary["pushed"])
    return 0


def cmd_gc(args) -> int:
    from bench.record.gc import gc

    removed, kept = gc()
    print(f"removed {removed} unreferenced artifacts; kept {kept}")
    return 0


def cmd_pairs(args) -> int:
    from bench.run.pairs import build_pairs_cli

    build_pairs_cli(args)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    handlers = {
        "run": cmd_run,
        "ls": cmd_ls,
        "show": cmd_show,
        "results": cmd_results,
        "leaderboard": cmd_leaderboard,
        "export": cmd_export,
        "gc": cmd_gc,
        "pairs": cmd_pairs,
    }
    try:
        return handlers[args.cmd](args)
    except BenchError as e:
        print(f"bench: error: {e}", file=sys.stderr)
        return 2
    except LostRun as e:
        print(f"bench: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("bench: interrupted; finished artifacts are kept and a rerun resumes", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `bench results --json | head -1`: the reader left, which is no error
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return 0


if __name__ == "__main__":
    sys.exit(main())
