"""`python -m antrean model …`: the registry from the command line (see antrean/model_registry).

An ID may also be written `live` (the live model). Who acts is `cli:<--by or the OS user>`, in
the records and the audit log."""

from __future__ import annotations

import argparse
import getpass
import json

SUBCOMMANDS = ("list", "history", "train", "register", "evaluate", "compare", "promote", "rollback", "prune",
               "serve")


def add_parser(commands) -> None:
    model = commands.add_parser("model", help="trained models: list, train, evaluate, compare, promote, roll back")
    sub = model.add_subparsers(dest="model_command", required=True)

    def by(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--by", help="who does it (default: the OS user)")

    listing = sub.add_parser("list", help="the models with their figures; * marks the live one")
    listing.add_argument("--format", choices=("table", "json"), default="table")
    listing.add_argument("--all", action="store_true", help="also pruned models")
    history = sub.add_parser("history", help="promotions and rollbacks, oldest first")
    history.add_argument("--format", choices=("table", "json"), default="table")
    train = sub.add_parser("train", help="validate data/, train, evaluate and keep a new model (not made live)")
    by(train)
    register = sub.add_parser("register", help="keep a model trained elsewhere (make train's models/antrean.tar.gz)")
    register.add_argument("file")
    register.add_argument("--live-if-none", action="store_true", help="make it live when no model is live yet")
    register.add_argument("--live", action="store_true",
                          help="a new file: make it live, overriding a refusing gate (make run on a working copy)")
    by(register)
    evaluate = sub.add_parser("evaluate", help="measure a model on the test set and the conversation tests")
    evaluate.add_argument("id")
    evaluate.add_argument("--format", choices=("text", "json"), default="text")
    compare = sub.add_parser("compare", help="B against A, also written to results/models/<A>-vs-<B>.md")
    compare.add_argument("a")
    compare.add_argument("b")
    compare.add_argument("--format", choices=("markdown", "json"), default="markdown")
    compare.add_argument("--out", help="folder for the report and its picture (default: results/models)")
    promote = sub.add_parser("promote", help="make a model live if the gate lets it through")
    promote.add_argument("id")
    promote.add_argument("--override", metavar="REASON", help="admins: make it live despite the gate, with a reason")
    by(promote)
    rollback = sub.add_parser("rollback", help="make the previously live model live again")
    by(rollback)
    prune = sub.add_parser("prune", help="delete the files of older models (live and rollback target stay)")
    prune.add_argument("--keep", type=int, required=True, metavar="N")
    by(prune)
    serve = sub.add_parser("serve", help="the live model for running Rasa servers (endpoints: models: url)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=5007)


def run(args) -> str:
    from antrean.cli import CliError
    from antrean.model_registry import ModelRegistryError, open_registry

    if args.model_command == "serve":
        from antrean.model_registry.serving import serve

        serve(args.host, args.port)
        return ""

    if args.model_command in ("train", "register", "evaluate", "compare", "promote"):
        import os

        from antrean.model_registry.evaluation import quiet_rasa_logs

        # These may load Rasa to evaluate a model: running servers on this machine come first.
        os.nice(10)
        quiet_rasa_logs()
    registry = open_registry()
    try:
        return HANDLERS[args.model_command](registry, args)
    except ModelRegistryError as error:
        raise CliError(str(error)) from None
    finally:
        registry.engine.dispose()


def _actor(args) -> str:
    return f"cli:{getattr(args, 'by', None) or getpass.getuser()}"[:40]


def _resolve(registry, model_id: str) -> str:
    if model_id == "live":
        from antrean.model_registry import ModelRegistryError

        live = registry.live_model()
        if live is None:
            raise ModelRegistryError("no model is live yet")
        return live.id
    return registry.get(model_id).id


def _figures(evaluation: dict | None) -> dict:
    from antrean.model_registry.evaluation import headline

    return headline(evaluation) if evaluation else {}


def cmd_list(registry, args) -> str:
    from tabulate import tabulate

    live = registry.live_model()
    records = registry.all(include_pruned=args.all)
    if args.format == "json":
        return json.dumps([{"id": r.id, "live": bool(live and live.id == r.id), "path": str(r.path),
                            "sha256": r.sha256, "size_bytes": r.size_bytes, "created_at": r.created_at.isoformat(),
                            "trained_by": r.trained_by, "training_seconds": r.training_seconds,
                            "data_fingerprint": r.data_fingerprint, "git_revision": r.git_revision,
                            "rasa_version": r.rasa_version, "pruned": r.pruned_at is not None,
                            "examples": r.manifest.get("inputs", {}).get("examples"),
                            "examples_from_inbox": r.manifest.get("inputs", {}).get("examples_from_inbox"),
                            "figures": _figures(r.evaluation)} for r in records], indent=2)
    if not records:
        return "no models yet: `python -m antrean model train` (or `make train`)"
    rows = []
    for r in records:
        f = _figures(r.evaluation)
        inputs = r.manifest.get("inputs", {})
        rows.append([("* " if live and live.id == r.id else "  ") + r.id, f"{r.created_at:%Y-%m-%d %H:%M}",
                     r.trained_by, f"{inputs.get('examples', '?')} ({inputs.get('examples_from_inbox', 0)})",
                     f"{f['intent_macro_f1']:.3f}" if f else "—", f"{f['entity_f1']:.3f}" if f else "—",
                     f"{f['law_parse_rate']:.0%}" if f else "—",
                     f"{f['stories_passed']}/{f['stories_passed'] + f['stories_failed']}" if f else "—",
                     f"{r.size_bytes / 1e6:.1f} MB", "pruned" if r.pruned_at else ""])
    return tabulate(rows, headers=["model (* live)", "trained (UTC)", "by", "examples (inbox)", "intent F1",
                                   "entity F1", "LAW #", "stories", "size", ""])


def cmd_history(registry, args) -> str:
    from tabulate import tabulate

    history = registry.history()
    if args.format == "json":
        return json.dumps([{"seq": p.seq, "at": p.at.isoformat(), "actor": p.actor, "action": p.action,
                            "from": p.from_model, "to": p.to_model, "override_reason": p.override_reason,
                            "figures": p.figures} for p in history], indent=2)
    if not history:
        return "no model has been made live yet"
    return tabulate([[p.seq, f"{p.at:%Y-%m-%d %H:%M}", p.actor, p.action, p.from_model or "—", p.to_model,
                      p.override_reason or ""] for p in history],
                    headers=["#", "at (UTC)", "by", "action", "from", "to", "override reason"])


def _evaluation_text(record) -> str:
    from antrean.model_registry.compare import FIGURES

    evaluation = record.evaluation
    f = _figures(evaluation)
    lines = [f"model {record.id}"] + [f"  {label}: {fmt.format(f[key])}" for key, label, fmt, _ in FIGURES]
    weakest = sorted(evaluation["intent"]["per_intent"].items(), key=lambda item: item[1]["f1"])[:5]
    lines.append("  weakest intents: " + ", ".join(f"{name} {s['f1']:.2f}" for name, s in weakest))
    lines.append("  entity F1 per type: " + ", ".join(f"{name} {s['f1']:.2f}"
                                                     for name, s in evaluation["entity"]["per_type"].items()))
    failed = [s for s in evaluation["stories"]["results"] if not s["passed"]]
    lines += [f"  conversation test failed: {s['name']} ({s['file']}): {s['failure']}" for s in failed]
    lines += [f"  LAW message misread: {text!r}" for text in evaluation["law"]["failures"]]
    return "\n".join(lines)


def cmd_train(registry, args) -> str:
    record = registry.train(by=_actor(args))
    lines = [f"trained {record.id} in {record.training_seconds:.0f} s ({record.path})", _evaluation_text(record)]
    lines += [f"  validation warning: {w}" for w in record.manifest.get("validation_warnings", [])]
    live = registry.live_model()
    if live is not None:
        lines.append(registry.gate(record.id, live.id).summary())
        lines.append(f"compare: python -m antrean model compare {live.id} {record.id}")
    lines.append(f"make it live: python -m antrean model promote {record.id}")
    return "\n".join(lines)


def cmd_register(registry, args) -> str:
    from pathlib import Path

    record, created = registry.register_file(Path(args.file), by=_actor(args))
    lines = [f"registered {args.file} as {record.id}" if created else f"{args.file} is already {record.id}"]
    live = registry.live_model()
    # Only a file seen for the first time (make retrained it): a model promoted since, e.g. from the
    # console, is not replaced by the next `make run`.
    if getattr(args, "live", False) and created and live is not None and live.id != record.id:
        from antrean.model_registry import PromotionRefused

        try:
            registry.promote(record.id, by=_actor(args))
            lines.append(f"{record.id} is live")
        except PromotionRefused as refusal:
            # The working copy's own data, on the developer's own machine: what they asked for,
            # with the gate's reasons shown and the override in the audit log.
            registry.promote(record.id, by=_actor(args), override_reason="make run: the working copy's model")
            lines.append(f"{record.id} is live despite the gate (override recorded):\n{refusal.verdict.summary()}")
    elif (args.live_if_none or getattr(args, "live", False)) and live is None:
        from antrean.model_registry import PromotionRefused

        try:
            registry.promote(record.id, by=_actor(args))
            lines.append(f"{record.id} is live (there was no live model)")
        except PromotionRefused as refusal:
            lines.append(f"not made live: {refusal}")
    return "\n".join(lines)


def cmd_evaluate(registry, args) -> str:
    record = registry.evaluate(_resolve(registry, args.id))
    if args.format == "json":
        return json.dumps(record.evaluation, indent=1)
    return _evaluation_text(record)


def cmd_compare(registry, args) -> str:
    comparison = registry.compare(_resolve(registry, args.a), _resolve(registry, args.b))
    report = comparison.write(args.out)
    if args.format == "json":
        return json.dumps(comparison.to_dict(), indent=1)
    return comparison.markdown() + f"\n(written to {report})"


def cmd_promote(registry, args) -> str:
    promotion = registry.promote(_resolve(registry, args.id), by=_actor(args), override_reason=args.override)
    verb = "made live despite the gate (override recorded)" if promotion.action == "override" else "is live"
    return f"{promotion.to_model} {verb}; before: {promotion.from_model or 'none'}"


def cmd_rollback(registry, args) -> str:
    promotion = registry.rollback(by=_actor(args))
    return f"rolled back: {promotion.to_model} is live again (was {promotion.from_model})"


def cmd_prune(registry, args) -> str:
    pruned = registry.prune(args.keep, by=_actor(args))
    return f"pruned {len(pruned)} models: {', '.join(pruned)}" if pruned else "nothing to prune"


HANDLERS = {"list": cmd_list, "history": cmd_history, "train": cmd_train, "register": cmd_register,
            "evaluate": cmd_evaluate, "compare": cmd_compare, "promote": cmd_promote, "rollback": cmd_rollback,
            "prune": cmd_prune}
