"""Command line: `python -m bot run | chat | health | kb check | kb train | eval | db upgrade`."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from pydantic import ValidationError

from bot.config import Settings
from bot.evaluate import SPLITS
from bot.logs import configure_logging

if TYPE_CHECKING:
    from bot.knowledge import KnowledgeBase
    from bot.matcher import Matcher


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments, configure logging once, and run the chosen command."""
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    try:
        settings = Settings()
    except ValidationError as exc:
        print(f"Configuration error:\n{exc}", file=sys.stderr)
        return 2
    configure_logging(verbose=args.verbose, log_format=settings.log_format)
    command: str = args.command
    if command == "kb":
        return _kb_train(settings) if args.action == "train" else _kb_check(settings)
    if command == "eval":
        return _eval(settings, args.split, args.threshold, args.details, args.explain)
    if command == "db":
        return asyncio.run(_db_upgrade(settings))
    if command == "chat":
        from bot.chat import run_chat

        return asyncio.run(run_chat(settings, demo=not args.no_demo))
    if command == "run":
        from bot.runner import run_bot

        return run_bot(settings, args.mode)
    if command == "health":
        return asyncio.run(_health(settings, as_json=args.json, server=args.server))
    parser.print_help()
    return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bot", description="DATAide assistant")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    commands = parser.add_subparsers(dest="command")
    run = commands.add_parser(
        "run", help="run on Telegram (long polling, or webhook if WEBHOOK_URL)"
    )
    modes = run.add_mutually_exclusive_group()
    modes.add_argument(
        "--polling", dest="mode", action="store_const", const="polling", default="auto",
        help="long polling even if WEBHOOK_URL is set (Procfile worker)",
    )  # fmt: skip
    modes.add_argument(
        "--webhook", dest="mode", action="store_const", const="webhook",
        help="webhook mode; fails if WEBHOOK_URL is unset (Procfile web)",
    )  # fmt: skip
    health = commands.add_parser("health", help="check the database and the outbox backlog")
    health.add_argument("--json", action="store_true", help="print the /healthz JSON")
    health.add_argument(
        "--server", action="store_true", help="also ask this machine's /healthz on PORT"
    )
    chat = commands.add_parser("chat", help="talk to the bot in this terminal, no token needed")
    chat.add_argument("--no-demo", action="store_true", help="don't add demo data")
    kb = commands.add_parser("kb", help="knowledge base tools")
    kb.add_argument(
        "action", choices=["check", "train"],
        help="check: report every problem; train: keep the classifier's weights in CACHE_DIR",
    )  # fmt: skip
    evaluation = commands.add_parser("eval", help="accuracy on the labelled questions in eval/")
    evaluation.add_argument("--split", choices=[*SPLITS, "all"], default="all")
    evaluation.add_argument("--threshold", type=float, default=None)
    evaluation.add_argument("--details", action="store_true", help="list every mistake")
    evaluation.add_argument("--explain", metavar="QUESTION", help="show how one question is read")
    db = commands.add_parser("db", help="database tools")
    db.add_argument("action", choices=["upgrade"])
    return parser


def _kb_check(settings: Settings) -> int:
    from bot.kb_check import check, report

    text, status = report(check(settings.knowledge_dir))
    print(text)
    return status


def _matcher(
    settings: Settings, threshold: float | None = None
) -> tuple[KnowledgeBase, Matcher] | None:
    """Knowledge/ and the matcher the bot builds from it, or None (and why) on errors."""
    from bot.knowledge import KnowledgeError, load_knowledge
    from bot.matcher import Matcher

    try:
        base = load_knowledge(settings.knowledge_dir)
    except KnowledgeError as exc:
        print(f"The knowledge base has errors; run `python -m bot kb check`.\n{exc}")
        return None
    matcher = Matcher(
        base.entries,
        base.synonyms,
        threshold,
        examples=base.examples,
        cache_dir=settings.cache_dir,
    )
    return base, matcher


def _kb_train(settings: Settings) -> int:
    """Train the classifier now and keep its weights in CACHE_DIR, so that the next start
    reads them: run where memory is plentiful (an image build), not in a small container."""
    started = time.perf_counter()
    loaded = _matcher(settings)
    if loaded is None:
        return 1
    base, matcher = loaded
    if matcher.classifier is None:
        print("No examples in knowledge/examples/: nothing to train.")
        return 0
    kept = matcher.weights_file
    if kept is None or not kept.exists():
        print(f"Trained, but the weights could not be written to {settings.cache_dir}.")
        return 1
    print(
        f"Classifier ready ({len(base.examples)} examples, {time.perf_counter() - started:.1f} s):"
        f" {kept}"
    )
    return 0


def _eval(
    settings: Settings, split: str, threshold: float | None, details: bool, explain: str | None
) -> int:
    from bot.evaluate import available_splits, evaluate, format_report, load_questions

    loaded = _matcher(settings, threshold)
    if loaded is None:
        return 1
    _, matcher = loaded
    if explain is not None:
        print("words read:", " ".join(matcher.tokens(explain)) or "(none)")
        for entry_id, score in matcher.rank(explain)[:5]:
            print(f"  {score:.3f}  {entry_id}")
        match = matcher.match(explain)
        evidence = matcher.evidence(explain)
        if evidence is not None:
            print("evidence:", ", ".join(f"{k} {v}" for k, v in vars(evidence).items()))
        print(f"confidence: {match.score:.3f} (answers from {matcher.threshold})")
        print("suggestions:", ", ".join(match.suggestions) or "(none)")
        print("verdict:", match.entry_id if match.confident else "not sure")
        return 0

    def predict(text: str) -> str | None:
        match = matcher.match(text)
        return match.entry_id if match.confident else None

    names = available_splits() if split == "all" else [split]
    if not set(names) <= set(available_splits()):
        print(f"No labelled questions in split {split!r} (eval/{split}.yaml is not there).")
        return 1
    for name in names:
        report = evaluate(predict, load_questions(split=name))
        print(
            format_report(
                f"[{name}] matcher (threshold {matcher.threshold})", report, details=details
            )
        )
    if split == "all":
        print(format_report("[all]", evaluate(predict, load_questions()), details=False))
    return 0


async def _db_upgrade(settings: Settings) -> int:
    from bot.db import create_engine
    from bot.migrate import upgrade

    engine = create_engine(settings.database_url)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()
    print("Database is up to date.")
    return 0


async def _health(settings: Settings, *, as_json: bool, server: bool) -> int:
    """Exit 0 when the database answers (and, with --server, the local /healthz says ok)."""
    import json

    from bot.clock import SystemClock
    from bot.db import create_engine
    from bot.health import check, probe_server

    engine = create_engine(settings.database_url)
    try:
        found = await check(engine, SystemClock().now())
    finally:
        await engine.dispose()
    if server:
        found.extra["server"] = await probe_server(settings.port)
    healthy = found.ok and (not server or found.extra["server"] == "ok")
    print(json.dumps(found.as_json()) if as_json else "\n".join(found.lines()))
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())
