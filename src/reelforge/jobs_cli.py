"""`reelforge jobs ...` and `reelforge generate --server`: the jobs of a running server, from a terminal.

Everything goes through ``remote.Remote``, the server's public HTTP API, so this process never
imports torch, the store or the engine and starts in well under a second. The progress display
(``follow``) is shared by `jobs watch` and `generate --server`.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from rich.console import Console

    from .remote import Remote, Snapshot

SERVER_ENV = "REELFORGE_SERVER"
API_KEY_ENV = "REELFORGE_API_KEY"
VARIANTS = ("video", "thumbnail", "spritesheet", "gif")

OK, JOB_FAILED, REFUSED, UNREACHABLE, SERVER_FAILED, INTERRUPTED = 0, 1, 2, 3, 4, 130
EXIT_CODES = f"""\
exit codes:
  {OK}    done (for watch and generate: the video completed)
  {JOB_FAILED}    the video failed or was cancelled (the error is printed)
  {REFUSED}    the server refused the request (4xx: unknown id, invalid value, missing or wrong API key,
       a video not completed yet), or the command line is wrong
  {UNREACHABLE}    no server answered at the URL (it is named)
  {SERVER_FAILED}    the server failed (5xx) or answered with something that is not its API
  {INTERRUPTED}  interrupted (Ctrl-C); the job goes on on the server

server: --server URL, else ${SERVER_ENV}, else http://127.0.0.1:PORT (PORT as `reelforge serve` takes it:
--port's default or $REELFORGE_PORT). API key: --api-key, else ${API_KEY_ENV}; a local server that has no
keys (open mode) needs none."""


def add_client_flags(parser: argparse.ArgumentParser, *, server_help: str | None = None) -> None:
    group = parser.add_argument_group("server")
    group.add_argument("--server", metavar="URL", help=server_help or (
        f"Base URL of the reelforge server [env {SERVER_ENV}; default http://127.0.0.1:PORT]."))
    group.add_argument("--api-key", dest="api_key", metavar="KEY",
                       help=f"API key, from `reelforge keys create` [env {API_KEY_ENV}; default none].")


def add_parser(sub: argparse._SubParsersAction) -> None:
    """`reelforge jobs`, under the CLI's subcommands."""
    text = dict(epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter)
    jobs = sub.add_parser("jobs", help="List, watch, cancel, delete and download the jobs of a running server.",
                          description="The jobs of a running reelforge server, through its HTTP API.", **text)
    jsub = jobs.add_subparsers(dest="jobs_command", required=True)

    def command(name: str, func: Callable[[Any, argparse.Namespace], int], help: str,
                with_id: bool = True) -> argparse.ArgumentParser:
        p = jsub.add_parser(name, help=help, description=help, **text)
        if with_id:
            p.add_argument("id", help="The video's id (video_...).")
        add_client_flags(p)
        p.set_defaults(func=lambda args: _run(args, func))
        return p

    p = command("list", cmd_list, "List your videos, newest first.", with_id=False)
    p.add_argument("--limit", type=int, default=20, help="How many (1 to 100; default 20).")
    p.add_argument("--after", metavar="ID", help="Start after this video id (the next page).")
    p.add_argument("--json", action="store_true", help="Print the API's list page as JSON.")
    p = command("show", cmd_show, "Show every field of a video.")
    p.add_argument("--json", action="store_true", help="Print the Video object as JSON.")
    command("watch", cmd_watch, "Follow a video's progress until it completes (exit 0) or fails (exit 1).")
    command("cancel", cmd_cancel, "Cancel a queued or running video.")
    command("delete", cmd_delete, "Delete a video and its files (cancelling it first if it has not finished).")
    p = command("download", cmd_download, "Download a completed video's mp4, thumbnail, spritesheet or GIF.")
    p.add_argument("--variant", choices=VARIANTS, default="video", help="Which artifact (default video: the mp4).")
    p.add_argument("--output", "-o", required=True, metavar="FILE", help="Where to write it (replaced whole, "
                   "never left half-written).")


# --- running a command ---------------------------------------------------------------------------

def server_url(args: argparse.Namespace) -> str:
    if args.server:
        return args.server
    # The client's own variables: they are not settings of a server, so not in the settings table
    # (which makes `serve`'s flags and the README's list).
    if os.environ.get(SERVER_ENV):
        return os.environ[SERVER_ENV]
    from .settings import WILDCARD_HOSTS, Settings

    settings = Settings()
    host = "127.0.0.1" if settings.host in WILDCARD_HOSTS else settings.host
    return f"http://{f'[{host}]' if ':' in host else host}:{settings.port}"


def connect(args: argparse.Namespace) -> "Remote":
    from .remote import Remote

    return Remote(server_url(args), args.api_key or os.environ.get(API_KEY_ENV) or None)


def _stderr() -> "Console":
    from rich.console import Console

    # Messages are not wrapped: each stays one line for a grep or a log.
    return Console(stderr=True, highlight=False, soft_wrap=True)


def _run(args: argparse.Namespace, func: Callable[[Any, argparse.Namespace], int]) -> int:
    with connect(args) as remote:
        return guarded(lambda: func(remote, args))


def guarded(call: Callable[[], int]) -> int:
    """Run a command, turning the client's typed errors into a readable line and an exit code."""
    from .remote import ServerError, Unreachable

    from rich.markup import escape

    console = _stderr()
    try:
        return call()
    except Unreachable as exc:
        console.print(f"[red]error:[/red] {escape(str(exc))}. Is `reelforge serve` running there? (Point --server "
                      f"or {SERVER_ENV} at it.)")
        return UNREACHABLE
    except ServerError as exc:
        # The server's words; a message names its field and the allowed values itself.
        console.print(f"[red]error:[/red] {escape(exc.message)}")
        if exc.status == 401:
            console.print(f"Pass the key with --api-key or {API_KEY_ENV}.")
        return REFUSED if 400 <= exc.status < 500 else SERVER_FAILED


# --- the commands --------------------------------------------------------------------------------

def _state(video: dict[str, Any]) -> str:
    from .remote import state_of  # remote is imported lazily, as everywhere here

    return state_of(video)


_STYLES = {"completed": "green", "failed": "red", "cancelled": "yellow", "in_progress": "cyan", "queued": "blue"}


def _when(ts: int | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts)) if ts else "-"


def _stdout(width: int | None = None) -> "Console":
    from rich.console import Console

    # A pipe gets $COLUMNS if set, else rich's 80 columns.
    return Console(highlight=False, width=width)


# The list's columns, in order. A narrow terminal gives up the optional ones, the last of
# OPTIONAL first, while the prompt (cut to what is left, at least PROMPT_MIN) keeps PROMPT_ROOM.
LIST_COLUMNS = ("id", "status", "model", "progress", "seconds", "size", "created", "prompt")
OPTIONAL = ("created", "model", "seconds", "size")
PROMPT_MIN, PROMPT_ROOM = 12, 24
GAP = 1


def _list_cells(v: dict[str, Any]) -> dict[str, str]:
    return {"id": v["id"], "status": _state(v), "progress": f"{v['progress']}%", "prompt": " ".join(v["prompt"].split()),
            "created": _when(v["created_at"]), "model": v["model"], "seconds": v["seconds"], "size": v["size"]}


def _fit(rows: list[dict[str, str]], width: int) -> dict[str, int]:
    """The columns that fit ``width``, in order, with their widths; the prompt takes what the others leave."""
    natural = {c: max([len(c)] + [len(r[c]) for r in rows]) for c in LIST_COLUMNS}
    shown = {c for c in LIST_COLUMNS if c not in OPTIONAL}

    def left(columns: set[str]) -> int:
        return width - sum(natural[c] + GAP for c in columns if c != "prompt")

    for column in OPTIONAL:
        if left(shown | {column}) >= min(PROMPT_ROOM, natural["prompt"]):
            shown.add(column)
    widths = {c: natural[c] for c in LIST_COLUMNS if c in shown}
    widths["prompt"] = max(PROMPT_MIN, min(natural["prompt"], left(shown)))
    return widths


def cmd_list(remote: "Remote", args: argparse.Namespace) -> int:
    from rich.table import Table
    from rich.text import Text

    page = remote.list(limit=args.limit, after=args.after)
    if args.json:
        print(json.dumps(page, indent=2))
        return OK
    if not page["data"]:
        _stderr().print("no videos" + (f" after {args.after}" if args.after else ""))
        return OK
    rows = [_list_cells(v) for v in page["data"]]
    width = _stdout().width
    widths = _fit(rows, width)
    # Padding on the left only, and not on the edge: GAP between columns, none after the last.
    table = Table(box=None, pad_edge=False, padding=(0, 0, 0, GAP), header_style="bold")
    for c in widths:
        table.add_column(c, width=widths[c], no_wrap=True, overflow="ellipsis",
                         justify="right" if c in ("progress", "seconds") else "left")
    for row in rows:
        table.add_row(*(Text(row[c], style=_STYLES.get(row[c], "") if c == "status" else "") for c in widths))
    # Ids are never cut: where even the fewest columns are wider than the terminal, the lines are longer.
    _stdout(max(width, sum(widths.values()) + GAP * (len(widths) - 1))).print(table)
    if page.get("has_more"):
        _stderr().print(f"more: reelforge jobs list --after {page['data'][-1]['id']}")
    return OK


def _value(name: str, value: Any) -> str:
    if value is None:
        return "-"
    if name.endswith("_at"):
        return f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(value))} ({value})"
    if name == "error":
        return f"{value.get('code')}: {value.get('message')}"
    if name == "adjustments":
        return "\n".join(f"{a['field']}: {a['asked']!r} -> {a['used']!r} ({a['reason']})" for a in value) or "none"
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(", ", ": "))
    return str(value)


def cmd_show(remote: "Remote", args: argparse.Namespace) -> int:
    from rich.table import Table
    from rich.text import Text

    video = remote.get(args.id)
    if args.json:
        print(json.dumps(video, indent=2))
        return OK
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    for name, value in video.items():
        table.add_row(name, Text(_state(video) if name == "status" else _value(name, value)))
    _stdout().print(table)
    return OK


def follow(remote: "Remote", video_id: str, console: "Console") -> "Snapshot":
    """Show a rich progress bar for a video until it finishes, with the server's ETA; the last snapshot."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                  TextColumn("{task.fields[state]}"), TextColumn("eta {task.fields[eta]}"), TimeElapsedColumn(),
                  console=console) as progress:
        bar = progress.add_task(video_id, total=100, state="", eta="-")
        for snap in remote.follow(video_id):
            eta = "-" if snap.eta_seconds is None else f"{snap.eta_seconds // 60}:{snap.eta_seconds % 60:02d}"
            progress.update(bar, completed=snap.progress, state=snap.state, eta=eta)
    return snap


def _ended(video_id: str, snap: "Snapshot", console: "Console") -> int:
    """Report a finished video; the exit code for it."""
    if snap.state == "completed":
        return OK
    from rich.markup import escape

    error = snap.error or {}
    code = f" ({error['code']})" if error.get("code") and error["code"] != "cancelled" else ""
    console.print(f"[red]{video_id} {snap.state}:[/red] {escape(error.get('message') or 'no reason given')}{escape(code)}")
    return JOB_FAILED


def _still_running(video_id: str, console: "Console") -> int:
    console.print(f"stopped watching; {video_id} goes on on the server (`reelforge jobs watch {video_id}` to "
                  f"follow it again, `reelforge jobs cancel {video_id}` to stop it).")
    return INTERRUPTED


def cmd_watch(remote: "Remote", args: argparse.Namespace) -> int:
    console = _stderr()
    try:
        snap = follow(remote, args.id, console)
    except KeyboardInterrupt:
        return _still_running(args.id, console)
    code = _ended(args.id, snap, console)
    if code == OK:
        video = snap.video or {}
        print(f"{args.id} completed" + (f": {video['num_frames']} frames, {video['size']}, {video['seconds']} s"
                                         if video else ""))
    return code


def cmd_cancel(remote: "Remote", args: argparse.Namespace) -> int:
    # Cancelling is idempotent on the server (a second cancel answers the cancelled video), so
    # look first, to tell the user whether this command stopped anything.
    before = _state(remote.get(args.id))
    if before in ("completed", "failed", "cancelled"):
        print(f"{args.id} had already {'been cancelled' if before == 'cancelled' else before}; nothing to cancel")
        return OK
    state = _state(remote.cancel(args.id))
    if state == "in_progress":
        print(f"{args.id}: cancel requested; its worker stops it at the next step")
    elif state == "cancelled":
        print(f"{args.id} cancelled")
    else:  # it finished between the look and the cancel
        print(f"{args.id} had already {state}; nothing to cancel")
    return OK


def cmd_delete(remote: "Remote", args: argparse.Namespace) -> int:
    remote.delete(args.id)
    print(f"deleted {args.id}")
    return OK


def cmd_download(remote: "Remote", args: argparse.Namespace) -> int:
    out = Path(args.output)
    size = remote.download(args.id, out, variant=args.variant)
    print(f"wrote {out} ({args.variant}, {size} bytes)")
    return OK


# --- generate --server ---------------------------------------------------------------------------

def generate_remote(args: argparse.Namespace) -> int:
    """`reelforge generate --server URL`: the same flags, as a POST /v1/videos; the same progress bar
    and "wrote ..." line as the in-process command."""
    with connect(args) as remote:
        return guarded(lambda: _generate(remote, args))


def _generate(remote: "Remote", args: argparse.Namespace) -> int:
    from rich.markup import escape

    console = _stderr()
    fields = {"prompt": args.prompt, "model": args.model, "seconds": args.seconds, "size": args.size,
              "seed": args.seed, "num_inference_steps": args.steps, "guidance_scale": args.guidance,
              "fps": args.fps, "num_frames": args.frames, "negative_prompt": args.negative_prompt}
    image = Path(args.image) if args.image else None
    if image is not None and not image.is_file():
        console.print(f"[red]error:[/red] --image: no such file: {escape(str(image))}")
        return REFUSED
    t0 = time.perf_counter()
    video = remote.create(fields, image)
    video_id = video["id"]
    console.print(f"submitted {video_id} to {remote.base_url} ({video['model']}, {video['size']}, "
                  f"{video['num_frames']} frames)")
    for a in video.get("adjustments") or []:
        console.print(f"[yellow]note:[/yellow] {escape(_value('adjustments', [a]))}")
    try:
        snap = follow(remote, video_id, console)
        code = _ended(video_id, snap, console)
        if code != OK:
            return code
        video = snap.video or remote.get(video_id)
        out = Path(args.output)
        remote.download(video_id, out)
    except KeyboardInterrupt:
        return _still_running(video_id, console)
    console.print(f"wrote {escape(str(out))} ({video['num_frames']} frames, {video['size']}, {video['fps']} fps, seed "
                  f"{video['seed']}) in {time.perf_counter() - t0:.1f}s")
    if remote.model(video["model"]).get("random_weights"):
        console.print(f"[yellow]note:[/yellow] {video['model']} has random weights; the video is noise.")
    return OK

