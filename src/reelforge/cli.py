"""The `reelforge` command: serve, worker, generate, jobs, pull, bench, keys, models, train-tiny, eval-tiny.

Server options are generated from the settings table, so `--help`, the
environment variables and the README never disagree.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
import tempfile
import time
from pathlib import Path

from .settings import SETTINGS, Settings

SERVE_FLAGS = ("host", "port", "data_dir", "database", "workers")


def _add_setting_flags(parser: argparse.ArgumentParser, names: tuple[str, ...] | None = None) -> None:
    group = parser.add_argument_group("settings (flag > REELFORGE_* environment variable > default)")
    for s in SETTINGS:
        if names is not None and s.name not in names:
            continue
        group.add_argument(
            "--" + s.name.replace("_", "-"),
            dest=s.name,
            type=s.type,
            default=None,
            metavar=s.name.upper(),
            help=f"{s.help} [env {s.env}; default {s.default!r}]",
        )


def _settings(args: argparse.Namespace) -> Settings:
    return Settings(overrides={s.name: getattr(args, s.name, None) for s in SETTINGS})


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from .api import logs
    from .api.app import create_app
    from .heap import return_freed_memory_promptly
    from .service.videos import VideoService
    from .settings import WILDCARD_HOSTS
    from .store import JobStore
    from .worker.main import configure_logging
    from .worker.supervisor import Supervisor

    # This process is the API: image and video decodes must not leave their memory behind.
    return_freed_memory_promptly()
    settings = _settings(args)
    configure_logging(settings.log_level)
    logs.install_root()
    if settings.host in WILDCARD_HOSTS and not settings.public_url:
        logging.getLogger("reelforge.serve").warning(
            "listening on %s: links we hand out start with %s; set --public-url to the address clients use",
            settings.host, settings.public_base)
    settings.data_path.mkdir(parents=True, exist_ok=True)
    store = JobStore(settings.database_url)
    store.migrate()
    supervisor = Supervisor(settings, settings.workers).start() if settings.workers > 0 else None
    # uvicorn believes X-Forwarded-For/-Proto from 127.0.0.1 unless told otherwise; only the
    # configured proxies may set them.
    proxies = list(settings.trusted_proxy_list)
    try:
        app = create_app(service=VideoService.open(settings, store=store))
        uvicorn.run(app, host=settings.host, port=settings.port, log_level=settings.log_level,
                    log_config=logs.uvicorn_log_config(), proxy_headers=bool(proxies),
                    forwarded_allow_ips=proxies or None,
                    # The standard loop, not uvloop: under load uvloop runs newly read requests before it
                    # flushes the responses of finished ones (MagicStack/uvloop#123), and with status polls
                    # answered on the loop (store/loop_queries.py) bench/serving.py measured p99 at 64 clients
                    # of 1.1-1.3 s on uvloop against 0.11-0.17 s on asyncio, for about 8 % more CPU a request.
                    loop="asyncio")
    finally:
        if supervisor is not None:
            supervisor.shutdown()
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from .store import JobStore
    from .worker.main import worker_main

    settings = _settings(args)
    JobStore(settings.database_url).migrate()
    worker_main(settings.values())
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from .catalog import Catalog
    from .catalog.weights import locate

    settings = _settings(args)
    catalog = Catalog.from_settings(settings)
    table = Table(title=f"reelforge models (weights in {settings.models_path})")
    for col in ("id", "family", "tasks", "sizes", "seconds", "installed", "notes"):
        table.add_column(col, no_wrap=col in ("id", "installed"), overflow="fold")
    for e in catalog:
        where = locate(e, settings.models_path)
        notes = []
        if e.id == catalog.default:
            notes.append("default")
        if e.random_weights:
            notes.append("RANDOM WEIGHTS: makes noise")
        if e.aliases:
            notes.append("aliases: " + ", ".join(e.aliases))
        table.add_row(e.id, e.family, ",".join(sorted(t.value for t in e.tasks)), " ".join(e.sizes),
                      ",".join(map(str, e.durations)), f"yes ({where.kind})" if where.installed else "no",
                      "; ".join(notes))
    # Piped output is read by scripts and greps: don't squeeze it to 80 columns.
    Console(width=None if sys.stdout.isatty() else 200).print(table)
    return 0


def cmd_workers(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from .store import JobStore, WorkerRegistry

    settings = _settings(args)
    store = JobStore(settings.database_url)
    store.migrate()
    now = time.time()
    table = Table(title="reelforge workers (live: a heartbeat within one lease, "
                        f"{settings.lease_seconds:g} s)")
    for col in ("id", "state", "device", "models", "job", "last beat", "up"):
        table.add_column(col, no_wrap=col in ("id", "state"), overflow="fold")
    for w in WorkerRegistry(store).list():
        state = "live" if w.live(settings.lease_seconds, now) else ("stopped" if w.stopped_at else "dead")
        end = w.stopped_at or (now if state == "live" else w.heartbeat_at)
        table.add_row(w.id, state, w.device, ", ".join(w.models) or "-", w.current_job or "-",
                      f"{now - w.heartbeat_at:.0f} s ago", f"{end - w.started_at:.0f} s")
    store.close()
    Console(width=None if sys.stdout.isatty() else 200).print(table)
    return 0


# generate's flags that only mean something in-process: a server has its own.
IN_PROCESS_SETTINGS = ("data_dir", "models_dir", "default_model", "device")


def cmd_generate(args: argparse.Namespace) -> int:
    if args.server:
        from .jobs_cli import generate_remote

        ignored = [s for s in IN_PROCESS_SETTINGS if getattr(args, s) is not None]
        if ignored:
            print(f"error: --{ignored[0].replace('_', '-')} applies in-process only; the server at {args.server} "
                  "uses its own settings.", file=sys.stderr)
            return 2
        return generate_remote(args)
    from PIL import Image
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from .catalog import Catalog
    from .errors import ReelforgeError
    from .media.inputs import decode_image
    from .service.specs import VideoRequest, build_spec
    from .worker.render import generate_frames, write_outputs

    console = Console(stderr=True)
    settings = _settings(args)
    catalog = Catalog.from_settings(settings)
    try:
        image_bytes = Path(args.image).read_bytes() if args.image else None
        req = VideoRequest(
            prompt=args.prompt, model=args.model, seconds=args.seconds, size=args.size, seed=args.seed,
            num_inference_steps=args.steps, guidance_scale=args.guidance, fps=args.fps, num_frames=args.frames,
            negative_prompt=args.negative_prompt, image=image_bytes, image_param="--image",
        )
        spec = build_spec(catalog, req)
        image: Image.Image | None = None
        if image_bytes is not None:
            image = decode_image(image_bytes, param="--image", max_bytes=settings.max_upload_bytes,
                                 max_pixels=settings.max_input_pixels)
        from .engine.runtime import Engine

        entry = catalog.resolve(spec.model)
        engine = Engine(settings.models_path, catalog, device_pref=settings.device)
        t0 = time.perf_counter()
        with Progress(TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total} steps"),
                      TimeElapsedColumn(), TimeRemainingColumn(), console=console) as progress:
            bar = progress.add_task(f"{spec.model}: denoising", total=spec.num_inference_steps)
            frames = generate_frames(engine, entry, spec, image, lambda done, total: progress.update(bar, completed=done, total=total))
        with tempfile.TemporaryDirectory(prefix="reelforge-") as tmp:
            paths = write_outputs(frames, spec, Path(tmp))
            out = Path(args.output)
            out.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(paths["video"]), out)
    except ReelforgeError as exc:
        console.print(f"[red]error:[/red] {exc.message}")
        return 2
    console.print(
        f"wrote {out} ({frames.shape[0]} frames, {spec.width}x{spec.height}, {spec.fps} fps, seed {spec.seed}) "
        f"in {time.perf_counter() - t0:.1f}s"
    )
    if entry.random_weights:
        console.print(f"[yellow]note:[/yellow] {entry.id} has random weights; the video is noise.")
    return 0


def cmd_pull(args: argparse.Namespace) -> int:
    from rich.console import Console

    from .catalog import Catalog
    from .engine.loader import pull
    from .errors import ReelforgeError

    console = Console(stderr=True)
    settings = _settings(args)
    catalog = Catalog.from_settings(settings)
    try:
        for name in args.models:
            entry = catalog.resolve(name)
            console.print(f"{entry.id}: fetching {entry.source} ...")
            path = pull(entry, settings.models_path)
            console.print(f"{entry.id}: ready at {path}")
    except ReelforgeError as exc:
        console.print(f"[red]error:[/red] {exc.message}")
        return 2
    return 0


# `bench --tier` without --model: one model of each family that has a fast tier (catalog.CACHE_FAMILIES).
TIER_BENCH_MODELS = ("wan2.1-t2v-1.3b", "ltx-video", "cogvideox-2b", "hunyuanvideo")


def cmd_bench(args: argparse.Namespace) -> int:
    import json

    from rich.console import Console

    from .catalog import Catalog
    from .errors import ReelforgeError

    console = Console(stderr=True)
    settings = _settings(args)
    try:
        # Lazy: torch and diffusers load only when a bench actually runs.
        from diffusers.utils import logging as diffusers_logging
        from transformers.utils import logging as transformers_logging

        from .engine.bench import run_bench
        from .engine.device import set_threads

        # The tiny builders' save/load progress bars would interleave with the report.
        diffusers_logging.disable_progress_bar()
        transformers_logging.disable_progress_bar()
        set_threads(settings.torch_threads)
        catalog = Catalog.from_settings(settings)
        if args.model is None and args.tier is None:
            raise ValueError("--model is required (without --model, --tier benches every transformer family)")
        models = [args.model] if args.model else list(TIER_BENCH_MODELS)
        reports = []
        for model in models:
            report = run_bench(catalog, model, tiny=args.tiny, device=args.device, steps=args.steps,
                               frames=args.frames, size=args.size, repeats=args.repeats, tier=args.tier)
            reports.append(report)
            if not args.json:
                print(report.table() + "\n", flush=True)
    except (ReelforgeError, ValueError) as exc:
        console.print(f"[red]error:[/red] {getattr(exc, 'message', exc)}")
        return 2
    if args.json:
        body = [r.to_json() for r in reports]
        print(json.dumps(body[0] if args.model else body, indent=2))
    elif len(reports) > 1:
        from .engine.bench.report import tier_summary

        print(tier_summary(reports))
    return 0


def cmd_train_tiny(argv: list[str]) -> int:
    from .engine.builtin import train

    train.main(argv)
    return 0


def cmd_eval_tiny(argv: list[str]) -> int:
    from .engine.builtin import evaluate

    evaluate.main(argv)
    return 0


# Commands that own their argument parsers (`python -m reelforge.engine.builtin.train` takes the
# same flags): everything after the command name, --help included, goes to them.
PASSTHROUGH = {"train-tiny": cmd_train_tiny, "eval-tiny": cmd_eval_tiny}


def _account_store(args: argparse.Namespace):
    from .store import AccountStore, JobStore

    settings = _settings(args)
    settings.data_path.mkdir(parents=True, exist_ok=True)
    store = JobStore(settings.database_url)
    store.migrate()
    return AccountStore(store)


def cmd_keys_create(args: argparse.Namespace) -> int:
    from .accounts import parse_rate
    from .errors import InvalidRequest

    try:
        limit, window = parse_rate(args.rate_limit)
    except InvalidRequest as e:
        print(f"error: {e.message}", file=sys.stderr)
        return 2
    account, key = _account_store(args).create(
        args.name, credits=None if args.unlimited else args.credits, rate_limit=limit, rate_window=window)
    credits = "unlimited" if account.credits is None else account.credits
    print(f"account {account.id} ({account.name}): credits {credits}, rate limit {account.rate_policy}", file=sys.stderr)
    print("This key is shown once; store it now:", file=sys.stderr)
    print(key)
    return 0


def cmd_keys_list(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    table = Table("account", "name", "key", "credits", "rate limit", "state")
    table.columns[0].no_wrap = True
    for a in _account_store(args).list():
        table.add_row(a.id, a.name, a.key_prefix + "...", "unlimited" if a.credits is None else str(a.credits),
                      a.rate_policy, "revoked" if a.revoked_at else "active")
    Console().print(table)
    return 0


def cmd_keys_revoke(args: argparse.Namespace) -> int:
    from .errors import NotFound

    try:
        account = _account_store(args).revoke(args.key)
    except NotFound as e:
        print(f"error: {e.message}", file=sys.stderr)
        return 1
    print(f"revoked the key of {account.id} ({account.name})")
    return 0


# What a standalone worker reads; the API's settings (bind, keys, URLs, limits) mean nothing to it.
WORKER_SETTINGS = ("data_dir", "database", "artifacts", "models_dir", "default_model", "catalog", "lease_seconds",
                   "poll_interval", "notify_poll_seconds", "drain_seconds", "progress_interval", "device",
                   "torch_threads", "max_resident_models", "max_resident_memory_gb", "max_batch", "batch_window",
                   "log_level")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="reelforge", description="Self-hosted text-to-video and image-to-video service.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("serve", help="Run the API and its workers (SQLite + local artifacts by default).")
    _add_setting_flags(p)
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("worker", help="Run one worker against a shared job store (for extra machines/GPUs).")
    _add_setting_flags(p, WORKER_SETTINGS + tuple(s.name for s in SETTINGS if s.name.startswith("s3_")))
    p.set_defaults(func=cmd_worker)

    from .jobs_cli import EXIT_CODES, add_client_flags
    from .jobs_cli import add_parser as add_jobs_parser

    p = sub.add_parser("generate", help="Make one video in-process, or on a running server with --server.",
                       epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("prompt")
    p.add_argument("--output", "-o", required=True, help="Where to write the mp4.")
    p.add_argument("--image", help="Input image for image-to-video (PNG, JPEG or WebP).")
    p.add_argument("--model", help="Catalog model id or alias (default: the default model).")
    p.add_argument("--seed", type=int, help="Seed; -1 or unset picks one at random and prints it.")
    p.add_argument("--steps", type=int, help="Denoising steps.")
    p.add_argument("--guidance", type=float, help="Guidance scale.")
    p.add_argument("--size", help="Output size WxH, e.g. 1280x720.")
    p.add_argument("--seconds", type=int, help="Duration in seconds (from the model's menu).")
    p.add_argument("--fps", type=int, help="Frames per second.")
    p.add_argument("--frames", type=int, help="Exact frame count (overrides --seconds).")
    p.add_argument("--negative-prompt", dest="negative_prompt")
    add_client_flags(p, server_help="Submit to the reelforge server at this base URL (e.g. http://127.0.0.1:8000), "
                     "follow its progress and download the result, instead of running in-process.")
    _add_setting_flags(p, IN_PROCESS_SETTINGS)
    p.set_defaults(func=cmd_generate)

    add_jobs_parser(sub)

    p = sub.add_parser("pull", help="Download (or build) a model's weights ahead of time.")
    p.add_argument("models", nargs="+", help="Catalog model ids or aliases.")
    _add_setting_flags(p, ("data_dir", "models_dir", "default_model"))
    p.set_defaults(func=cmd_pull)

    p = sub.add_parser("bench", help="Time our engine path against a plain diffusers call, side by side.")
    p.add_argument("--model", help="Catalog model id or alias (with --tier and no --model: one model of each "
                   "transformer family: " + ", ".join(TIER_BENCH_MODELS) + ").")
    p.add_argument("--tier", choices=("exact", "fast"),
                   help="Run our path at this speed tier and report its PSNR against plain diffusers on the same seed.")
    p.add_argument("--tiny", action="store_true",
                   help="Use the family's tiny random-weight model (runs on a CPU); default: the full published "
                        "architecture with random weights (needs a GPU).")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"), help="Torch device (default auto).")
    p.add_argument("--steps", type=int, help="Denoising steps (default: the model's; 4 with --tiny).")
    p.add_argument("--frames", type=int, help="Frame count (default: the model's default clip; a short one with --tiny).")
    p.add_argument("--size", help="Generation size WxH (default: the model's default; about 256 px with --tiny).")
    p.add_argument("--repeats", type=int, default=3, help="Timed runs per path after the warm-up (default 3).")
    p.add_argument("--json", action="store_true", help="Print the result as JSON.")
    _add_setting_flags(p, ("catalog", "torch_threads"))
    p.set_defaults(func=cmd_bench)

    keys = sub.add_parser("keys", help="Manage API keys (each key is one account with its credits).")
    ksub = keys.add_subparsers(dest="keys_command", required=True)
    p = ksub.add_parser("create", help="Create an account and print its key (once).")
    p.add_argument("--name", required=True, help="Who the key is for.")
    amount = p.add_mutually_exclusive_group()
    amount.add_argument("--credits", type=int, default=0, help="Starting balance in credits (default 0).")
    amount.add_argument("--unlimited", action="store_true", help="No credit limit.")
    p.add_argument("--rate-limit", default="30/min", help="Creates per window, e.g. 30/min, 1000/day, unlimited.")
    _add_setting_flags(p, ("data_dir", "database"))
    p.set_defaults(func=cmd_keys_create)
    p = ksub.add_parser("list", help="List accounts and their keys' prefixes.")
    _add_setting_flags(p, ("data_dir", "database"))
    p.set_defaults(func=cmd_keys_list)
    p = ksub.add_parser("revoke", help="Revoke a key by its account id or key prefix.")
    p.add_argument("key", help="Account id (acct_...) or key prefix (rf_...).")
    _add_setting_flags(p, ("data_dir", "database"))
    p.set_defaults(func=cmd_keys_revoke)

    # Listed for --help; main() hands their arguments to the built-in model's own parsers.
    sub.add_parser("train-tiny", help="Train the built-in tiny model (see `reelforge train-tiny --help`).")
    sub.add_parser("eval-tiny", help="Score built-in model weights on the world's prompts (`reelforge eval-tiny --help`).")

    p = sub.add_parser("workers", help="List the workers that run against the job store: live, stopped or dead.")
    _add_setting_flags(p, ("data_dir", "database", "lease_seconds"))
    p.set_defaults(func=cmd_workers)

    p = sub.add_parser("models", help="List the models in the catalog.")
    _add_setting_flags(p, ("default_model",))
    p.set_defaults(func=cmd_models)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] in PASSTHROUGH:
        return PASSTHROUGH[argv[0]](argv[1:])
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
