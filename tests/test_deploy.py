"""The deployment files against the code they deploy, so the guide cannot rot.

docs/deploy.md, deploy/compose.yaml, deploy/keda-scaledobject.yaml and deploy/Dockerfile cannot be run
here (no Docker, no cluster), so this reads them: every `reelforge` command line in them must parse with
the real CLI parser, every REELFORGE_* variable must be a setting the command it is given to reads, the
pieces must agree with each other (one database, one bucket, grace periods longer than the drain), and
the KEDA trigger's exact query runs against a real PostgreSQL as jobs move through their states.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import re
import shlex
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml

from reelforge.cli import build_parser
from reelforge.settings import SETTINGS, WILDCARD_HOSTS, Settings
from tests.store.test_contract import SPEC

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "deploy" / "compose.yaml"
KEDA = ROOT / "deploy" / "keda-scaledobject.yaml"
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
GUIDE = ROOT / "docs" / "deploy.md"

ENV_TO_SETTING = {s.env: s.name for s in SETTINGS}
SHELL_OPERATORS = {"|", "||", "&&", ";", "&", ">", ">>", "2>", "2>&1", "<"}


# --- reading the files ----------------------------------------------------------------------------

_INTERPOLATION = re.compile(r"\$\{([A-Z_][A-Z0-9_]*):-([^}]*)\}")


def _interpolate(value: Any) -> Any:
    """Compose's ``${NAME:-default}``, resolved to its default (what a fresh checkout runs with)."""
    if isinstance(value, str):
        resolved = _INTERPOLATION.sub(lambda m: m.group(2), value)
        assert "$" not in resolved, f"compose.yaml: only ${{NAME:-default}} interpolation is expected, got {value!r}"
        return resolved
    if isinstance(value, dict):
        return {k: _interpolate(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v) for v in value]
    return value


def compose() -> dict:
    return _interpolate(yaml.safe_load(COMPOSE.read_text()))


def k8s() -> dict[str, dict]:
    """The manifests by kind (one of each)."""
    docs = [d for d in yaml.safe_load_all(KEDA.read_text()) if d]
    by_kind = {d["kind"]: d for d in docs}
    assert len(by_kind) == len(docs), "one manifest of each kind expected"
    return by_kind


def code_blocks(lang: str) -> list[str]:
    return re.findall(rf"^```{lang}\n(.*?)^```", GUIDE.read_text(), flags=re.DOTALL | re.MULTILINE)


def shell_commands(block: str) -> Iterator[list[str]]:
    """Each logical line of a shell block (backslash continuations joined) as tokens, comments dropped."""
    for line in block.replace("\\\n", " ").splitlines():
        tokens = shlex.split(line, comments=True)
        if tokens:
            yield tokens


@dataclass
class Invocation:
    where: str
    argv: list[str]                 # after `reelforge`
    env: dict[str, str | None]      # None: the value comes from a secret

    def parse(self) -> argparse.Namespace:
        err = io.StringIO()
        try:
            with contextlib.redirect_stderr(err):
                return build_parser().parse_args(self.argv)
        except SystemExit:
            pytest.fail(f"{self.where}: `reelforge {shlex.join(self.argv)}` does not parse: {err.getvalue().strip()}")

    def settings(self) -> Settings:
        """What the process runs with: its flags over its environment (secrets as placeholders)."""
        ns = vars(self.parse())
        env = {k: v if v is not None else "from-a-secret" for k, v in self.env.items()}
        return Settings(overrides={s.name: ns.get(s.name) for s in SETTINGS}, environ=env)

    def settings_read(self) -> set[str]:
        """The settings this command takes: the leaf parser's setting flags."""
        return {s.name for s in SETTINGS if s.name in vars(self.parse())}


def _reelforge_argv(tokens: list[str]) -> list[str] | None:
    if not tokens or tokens[0] != "reelforge":
        return None
    argv = []
    for token in tokens[1:]:
        if token in SHELL_OPERATORS:
            break
        argv.append(token)
    return argv


def _yaml_invocations(node: Any, where: str) -> Iterator[Invocation]:
    """Every mapping with a `reelforge ...` command: a compose service or a Kubernetes container."""
    if isinstance(node, dict):
        command = node.get("command")
        if command is not None:
            tokens = shlex.split(command) if isinstance(command, str) else [str(t) for t in command]
            argv = _reelforge_argv(tokens + [str(a) for a in node.get("args", [])])
            if argv is not None:
                yield Invocation(f"{where} ({node.get('name') or node.get('image')})", argv, _env_of(node))
        for value in node.values():
            yield from _yaml_invocations(value, where)
    elif isinstance(node, list):
        for item in node:
            yield from _yaml_invocations(item, where)


def _env_of(node: dict) -> dict[str, str | None]:
    env = node.get("environment", node.get("env", {}))
    if isinstance(env, dict):  # compose's mapping form
        return {k: None if v is None else str(v) for k, v in env.items()}
    out: dict[str, str | None] = {}
    for item in env:
        if isinstance(item, str):  # compose's list form, NAME=value
            name, _, value = item.partition("=")
            out[name] = value
        else:  # a Kubernetes EnvVar
            out[item["name"]] = str(item["value"]) if "value" in item else None
    return out


def compose_services() -> dict[str, Invocation]:
    services = compose()["services"]
    found = {}
    for name, service in services.items():
        for inv in _yaml_invocations(service, f"compose.yaml services.{name}"):
            found[name] = inv
    return found


_ASSIGNMENT = re.compile(r"^([A-Z_][A-Z0-9_]*)=(.*)$", re.DOTALL)


def guide_invocations() -> list[Invocation]:
    found: list[Invocation] = []
    services = set(compose()["services"])
    for n, block in enumerate(code_blocks("bash")):
        exported: dict[str, str | None] = {}  # `export NAME=value` lines hold for the rest of the block
        for tokens in shell_commands(block):
            if tokens[0] == "export":
                exported.update(m.groups() for m in map(_ASSIGNMENT.match, tokens[1:]) if m)
                continue
            for i, token in enumerate(tokens):
                # A command word: the start of a command (after any NAME=value), after `--` (kubectl exec),
                # or after the service of `docker compose exec/run SERVICE`; not `-n reelforge` or a Secret.
                before = tokens[:i]
                while before and _ASSIGNMENT.match(before[-1]):
                    before = before[:-1]
                starts = not before or before[-1] in SHELL_OPERATORS | {"--"} | services
                if token == "reelforge" and starts:
                    env = {**exported, **dict(_ASSIGNMENT.match(t).groups() for t in tokens[len(before):i])}
                    found.append(Invocation(f"docs/deploy.md bash block {n + 1}: {shlex.join(tokens)}",
                                            _reelforge_argv(tokens[i:]), env))
    for n, block in enumerate(code_blocks("yaml")):
        for doc in yaml.safe_load_all(block):
            found.extend(_yaml_invocations(doc, f"docs/deploy.md yaml block {n + 1}"))
    return found


def dockerfile_invocations() -> list[Invocation]:
    found = []
    for line in DOCKERFILE.read_text().splitlines():
        if line.startswith("CMD ["):
            argv = _reelforge_argv(yaml.safe_load(line[len("CMD "):]))
            assert argv is not None, f"Dockerfile: {line!r} does not run reelforge"
            found.append(Invocation(f"Dockerfile {line}", argv, {}))
    return found


def every_invocation() -> list[Invocation]:
    return (list(compose_services().values()) + list(_yaml_invocations(k8s()["Deployment"], "keda-scaledobject.yaml"))
            + guide_invocations() + dockerfile_invocations())


# --- every flag and variable is real ----------------------------------------------------------------

def test_the_files_hold_the_command_lines_this_checks():
    """So that a change in how they are written cannot make the checks below pass on nothing."""
    services = compose_services()
    assert {"api", "worker", "worker-gpu"} <= set(services)
    assert [i.argv[0] for i in _yaml_invocations(k8s()["Deployment"], "k8s")] == ["worker"]
    commands = {tuple(i.argv[:2]) for i in guide_invocations()}
    assert {("serve", "--workers"), ("worker", "--database"), ("keys", "create"), ("workers", "--database")} <= commands
    assert len(guide_invocations()) >= 10 and len(dockerfile_invocations()) == 2


@pytest.mark.parametrize("invocation", every_invocation(), ids=lambda i: i.where[:90])
def test_every_reelforge_command_line_parses_and_its_variables_are_settings_it_reads(invocation):
    invocation.parse()
    read = invocation.settings_read()
    for name in invocation.env:
        if not name.startswith("REELFORGE_"):
            continue
        assert name in ENV_TO_SETTING, f"{invocation.where}: {name} is not a setting"
        assert ENV_TO_SETTING[name] in read, (
            f"{invocation.where}: `reelforge {invocation.argv[0]}` does not read {name}")
    invocation.settings()  # every value converts (ports, seconds, URLs)


@pytest.mark.parametrize("path", [COMPOSE, KEDA, DOCKERFILE, GUIDE], ids=lambda p: p.name)
def test_every_reelforge_variable_named_anywhere_is_a_setting(path):
    names = set(re.findall(r"\bREELFORGE_[A-Z0-9_]*[A-Z0-9]\b", path.read_text()))
    assert names, f"{path.name} names no REELFORGE_* variable"
    assert names <= set(ENV_TO_SETTING), f"{path.name}: not settings: {sorted(names - set(ENV_TO_SETTING))}"


def _all_flags(parser: argparse.ArgumentParser) -> set[str]:
    flags = {o for a in parser._actions for o in a.option_strings}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                flags |= _all_flags(sub)
    return flags


def test_every_flag_the_guide_names_in_its_text_exists():
    named = set(re.findall(r"`(--[a-z][a-z0-9-]*)[ =`]", GUIDE.read_text()))
    assert len(named) >= 10
    assert named <= _all_flags(build_parser()), f"no reelforge command has {sorted(named - _all_flags(build_parser()))}"


def test_the_dockerfile_defaults_are_read_by_both_images_commands():
    env = set(re.findall(r"\b(REELFORGE_[A-Z0-9_]+)=", DOCKERFILE.read_text()))
    assert env
    for command in ("serve", "worker"):
        read = Invocation("Dockerfile", [command], {}).settings_read()
        assert {ENV_TO_SETTING[n] for n in env} <= read, command


def test_the_worker_image_installs_the_torch_pin_before_the_engine():
    text = DOCKERFILE.read_text()
    assert text.startswith("# syntax=docker/dockerfile:1") and "FROM python:3.11-slim AS api" in text
    api, worker = text.split("FROM api AS worker", 1)
    assert "torch==2.13.0" in worker and worker.index("torch==2.13.0") < worker.index("[engine]")
    # The API image stays torch-free: it installs the package alone.
    assert [line for line in api.splitlines() if "pip install" in line] == ["RUN pip install ."]


# --- the pieces agree with each other ---------------------------------------------------------------

def _seconds(duration: str) -> float:
    m = re.fullmatch(r"(\d+)(s|m)", duration)
    assert m, f"a duration like 150s or 11m, got {duration!r}"
    return int(m.group(1)) * (60 if m.group(2) == "m" else 1)


def test_compose_runs_one_api_and_replicated_workers_on_one_database_and_bucket():
    spec = compose()
    services = spec["services"]
    invocations = compose_services()
    api = invocations["api"].settings()
    assert invocations["api"].argv[0] == "serve" and api.workers == 0 and api.host in WILDCARD_HOSTS
    assert services["worker"]["deploy"]["replicas"] >= 2

    pg = services["postgres"]["environment"]
    url = sa.make_url(api.database_url)
    assert url.drivername == "postgresql+psycopg" and url.host == "postgres" and "postgres" in services
    assert (url.username, url.password, url.database) == (pg["POSTGRES_USER"], pg["POSTGRES_PASSWORD"], pg["POSTGRES_DB"])

    s3 = services["s3"]
    bucket = api.artifacts_location.removeprefix("s3://").split("/")[0]
    assert f"-bucket={bucket}" in s3["command"]  # reelforge never creates its bucket
    assert api.s3_endpoint_url.startswith("http://s3:")
    assert (api.s3_access_key_id, api.s3_secret_access_key) == (
        s3["environment"]["AWS_ACCESS_KEY_ID"], s3["environment"]["AWS_SECRET_ACCESS_KEY"])

    for name, inv in invocations.items():
        s = inv.settings()
        same = ("database_url", "artifacts_location", "s3_endpoint_url", "s3_region", "s3_access_key_id",
                "s3_secret_access_key", "models_path", "lease_seconds")
        assert {k: getattr(s, k) for k in same} == {k: getattr(api, k) for k in same}, name
        # The API decides at submission which models are installed: it must see the workers' weights.
        mounts = {m.split(":")[1]: m.split(":")[0] for m in services[name]["volumes"]}
        assert mounts.get(str(s.models_path)) == "models", name
        for dependency in ("postgres", "s3"):
            assert services[name]["depends_on"][dependency]["condition"] == "service_healthy", name
        if inv.argv[0] == "worker":
            assert _seconds(services[name]["stop_grace_period"]) > s.drain_seconds, name
            assert services[name]["build"]["target"] == "worker"
    assert set(spec["volumes"]) >= {"postgres", "s3", "models"}


def test_compose_gpu_worker_owns_one_gpu_behind_a_profile():
    service = compose()["services"]["worker-gpu"]
    inv = compose_services()["worker-gpu"]
    assert service["profiles"] == ["gpu"] and inv.settings().device == "cuda"
    (device,) = service["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and len(device["device_ids"]) == 1 and "gpu" in device["capabilities"]


def test_the_scaled_object_targets_the_worker_deployment_and_outlasts_its_drain():
    m = k8s()
    deployment, scaled, auth = m["Deployment"], m["ScaledObject"], m["TriggerAuthentication"]
    assert scaled["apiVersion"] == auth["apiVersion"] == "keda.sh/v1alpha1"
    assert scaled["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    assert "replicas" not in deployment["spec"]  # the HPA owns it
    (trigger,) = scaled["spec"]["triggers"]
    assert trigger["type"] == "postgresql" and trigger["authenticationRef"]["name"] == auth["metadata"]["name"]
    # KEDA's metadata is a map of strings; a bare YAML number is refused by the CRD.
    assert all(isinstance(v, str) for v in trigger["metadata"].values())
    assert float(trigger["metadata"]["targetQueryValue"]) == 1
    assert {r["parameter"] for r in auth["spec"]["secretTargetRef"]} == {"connection"}

    pod = deployment["spec"]["template"]["spec"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    (container,) = pod["containers"]
    (inv,) = _yaml_invocations(deployment, "k8s")
    settings = inv.settings()
    assert pod["terminationGracePeriodSeconds"] > settings.drain_seconds
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1 and settings.device == "cuda"
    mounts = {v["mountPath"]: v["name"] for v in container["volumeMounts"]}
    claims = {v["name"]: v["persistentVolumeClaim"]["claimName"] for v in pod["volumes"] if "persistentVolumeClaim" in v}
    assert claims[mounts[str(settings.models_path)]] == "reelforge-models"


def _secret_refs() -> set[tuple[str, str]]:
    """(secret, key) of every non-optional secret reference in the manifests and the guide's YAML."""
    refs = set()

    def walk(node):
        if isinstance(node, dict):
            ref = node.get("secretKeyRef")
            if ref and not ref.get("optional"):
                refs.add((ref["name"], ref["key"]))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(list(k8s().values()))
    for block in code_blocks("yaml"):
        walk(list(yaml.safe_load_all(block)))
    for ref in k8s()["TriggerAuthentication"]["spec"]["secretTargetRef"]:
        refs.add((ref["name"], ref["key"]))
    return refs


def test_the_guide_creates_every_secret_key_the_manifests_read():
    created: set[tuple[str, str]] = set()
    for block in code_blocks("bash"):
        for tokens in shell_commands(block):
            if tokens[:1] == ["kubectl"] and "secret" in tokens and "generic" in tokens:
                name = tokens[tokens.index("generic") + 1]
                created |= {(name, t.split("=")[1]) for t in tokens if t.startswith("--from-literal=")}
    assert created and _secret_refs() <= created, f"not created: {sorted(_secret_refs() - created)}"
    # KEDA's connection is a libpq URL; SQLAlchemy's driver suffix would not parse in Go.
    for block in code_blocks("bash"):
        for tokens in shell_commands(block):
            for t in tokens:
                if t.startswith("--from-literal=keda-connection="):
                    assert t.split("=", 2)[2].startswith("postgresql://")


def test_the_guide_shows_the_query_the_scaled_object_runs():
    (sql,) = [b for b in code_blocks("sql") if "count(*)" in b]
    assert " ".join(sql.split()) == " ".join(k8s_query().split())


# --- the query, on a real PostgreSQL --------------------------------------------------------------------

def k8s_query() -> str:
    (trigger,) = k8s()["ScaledObject"]["spec"]["triggers"]
    return trigger["metadata"]["query"]


@pytest.fixture
def store(pg_store):
    return pg_store


def test_the_keda_query_counts_the_jobs_that_need_a_worker(store):
    query = sa.text(k8s_query())

    def depth() -> int:
        with store.engine.connect() as conn:
            value = conn.execute(query).scalar_one()
        assert isinstance(value, int)  # KEDA scans it into a number
        return value

    def running_and_claimable() -> int:
        counts = store.counts()
        return counts["queued"] + counts["in_progress"]

    assert depth() == 0
    jobs = [store.create(SPEC, account="a", max_attempts=3) for _ in range(6)]
    assert depth() == 6 == running_and_claimable()

    first = store.claim("w1", 30)
    assert depth() == 6  # five queued and one running: its worker is still needed
    assert store.complete(first.id, "w1", {"artifacts": {}})
    assert depth() == 5 == running_and_claimable()

    second = store.claim("w2", 30)
    assert store.fail(second.id, "w2", "generation_failed", "boom")
    assert depth() == 4

    store.request_cancel(jobs[2].id)  # queued: cancelled outright
    store.delete(jobs[3].id)          # queued: deleted and cancelled
    assert depth() == 2 == running_and_claimable()

    # A draining worker hands its job back: still one job to run.
    handed = store.claim("w3", 30)
    assert store.release(handed.id, "w3")
    assert depth() == 2

    # A worker dies mid-job: the job keeps counting (a worker must stay to requeue it), and the
    # sweep puts it back in the queue.
    orphan = store.claim("w4", 30)
    assert depth() == 2
    assert store.requeue_expired(now=time.time() + 60).requeued == [orphan.id]
    assert depth() == 2
    # Its last attempt expiring fails it for good: nothing more to run.
    again = store.claim("w5", 30)
    # (The hand-back above took an attempt too: every claim does.)
    assert again.id == orphan.id and again.attempts == again.max_attempts == 3
    assert store.requeue_expired(now=time.time() + 60).failed == [orphan.id]
    assert depth() == 1

    # A cancel of a running job holds its worker until the worker stops it.
    last = store.claim("w6", 30)
    store.request_cancel(last.id)
    assert depth() == 1
    assert store.mark_cancelled(last.id, "w6")
    assert depth() == 0 == running_and_claimable()


def test_a_job_cancelled_while_handed_back_ends_cancelled_and_leaves_the_count(store):
    """Flagged for cancel while its worker was handing it back: queued again it would never be claimed
    (and a worker kept for it would idle), so release ends it cancelled."""
    job = store.create(SPEC, account="a")
    claimed = store.claim("w1", 30)
    store.request_cancel(claimed.id)
    assert store.release(claimed.id, "w1")
    done = store.get(job.id)
    assert done.status.value == "cancelled" and done.error.code == "cancelled", done
    assert [a.outcome for a in store.attempts(job.id)] == ["cancelled"]
    assert store.claim("w2", 30) is None and not store.has_queued()
    with store.engine.connect() as conn:
        assert conn.execute(sa.text(k8s_query())).scalar_one() == 0