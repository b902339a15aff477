"""Lock files: the sha256 of every artifact ``pulumi up`` fetches, as ``hybrid-infra lock`` computed it.

What a stack fetches when it deploys, beside the cloud's own images: the release manifests
(KubeVirt, CDI, Multus, the system-upgrade-controller, Calico's CRDs, a platform's CSI driver) and
the Helm chart archives. A version pins what upstream calls a release, not its bytes: a tag can be
moved, a mirror can serve something else. ``hybrid-infra lock STACK`` downloads each of them once,
as ``pulumi up`` would, and writes their digests beside the stack file, ``stacks/<stack>.lock.yaml``
(:func:`lock_path`); the file is committed and reviewed like the stack. From then on:

- a release manifest whose bytes differ from its entry is refused where the program reads them
  (:func:`verify`, called by ``read_manifest``): at ``pulumi up`` for a URL, already in
  ``hybrid-infra plan`` for a local file;
- a locked Helm chart is downloaded by the program itself at ``pulumi up`` (and ``preview``), checked,
  kept under ``.hybrid-infra/charts/sha256-<digest>/`` in the program's directory, and handed to the
  provider as that local archive (:func:`locked_chart`): the provider installs the bytes that were
  checked, and the release's inputs name the digest, the same on every machine;
- an entry made for another version or source than the stack now asks is refused offline too
  (the lock is stale: lock again after a version bump);
- an artifact without an entry is fetched as before, unverified; the plan shows it ``unlocked``.

The program finds the lock file in two ways. ``hybrid-infra plan`` (and any caller) runs the program
inside :func:`recording`, with the lock it loaded; offline, under Pulumi's mocks, nothing else is
read. Under the Pulumi engine, without a recording, it is the file beside the running stack's
config: ``Pulumi.yaml`` in the working directory, when it names the running project, gives the
stack config directory (``stackConfigDir``).
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Literal

import pulumi
import yaml
from pulumi.runtime.mocks import MockMonitor
from pydantic import BaseModel

from .config.addons import ChartSpec
from .config.errors import ConfigError

LOCK_FILE = "{stack}.lock.yaml"
"""Beside the stack file. Not ``Pulumi.<stack>.lock.yaml``: that name matches the stack files'
pattern ``Pulumi.<stack>.yaml``, and would be taken for the config of a stack named ``<stack>.lock``."""
LOCK_FORMAT = 1
UNLOCKED = "unlocked"
CHART_CACHE = PurePosixPath(".hybrid-infra/charts")
"""Where the program keeps the chart archives it checked, relative to its directory (ignored by git)."""
FETCH_TIMEOUT_SECONDS = 60
HEADER = (
    "# Written by `hybrid-infra lock {stack}`: the sha256 of every artifact `pulumi up` fetches for stack {stack},\n"
    "# downloaded and digested by that command. Commit it beside the stack file; run the command again after\n"
    "# changing a version or a source (docs/locking.md).\n"
)
_ENTRY_KEYS = ("chart", "file", "repository", "sha256", "url", "version")
_SHA256 = re.compile(r"[0-9a-f]{64}")


class LockFileError(ConfigError):
    """A lock file that cannot be read: each line names the file itself, not the stack's."""


@dataclass(frozen=True)
class LockEntry:
    """One locked artifact: where the stack configures it, where it comes from, and its digest."""

    key: str
    version: str
    sha256: str
    url: str | None = None
    file: str | None = None
    chart: str | None = None
    repository: str | None = None

    @property
    def source(self) -> str:
        return self.url or self.file or ""

    @property
    def state(self) -> str:
        return locked(self.sha256)

    def document(self) -> dict[str, str]:
        values = {name: getattr(self, name) for name in _ENTRY_KEYS}
        return {name: value for name, value in values.items() if value is not None}


def locked(sha256: str) -> str:
    """The lock state the plan shows for an artifact with an entry."""
    return f"locked sha256:{sha256}"


@dataclass(frozen=True)
class Lock:
    path: Path
    """As the messages name it: relative where the stacks directory was given relative."""
    stack: str
    entries: dict[str, LockEntry]

    @property
    def relock(self) -> str:
        return f"`hybrid-infra lock {self.stack}`"


def lock_path(stacks_dir: Path, stack: str) -> Path:
    return stacks_dir / LOCK_FILE.format(stack=stack)


def load_lock(path: Path, stack: str) -> Lock | None:
    """The lock file at ``path``, or None where there is none; :class:`LockFileError` if it is not one."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    except OSError as error:
        raise LockFileError([f"{path}: cannot be read ({error.strerror})"]) from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "somewhere"
        raise LockFileError([f"{path}: {where}: not valid YAML ({getattr(error, 'problem', error)})"]) from None
    rerun = f"run `hybrid-infra lock {stack}` to write it again"
    if not isinstance(document, dict) or not isinstance(document.get("artifacts", {}), dict):
        raise LockFileError([f"{path}: (top level): expected a mapping with an 'artifacts' mapping; {rerun}"])
    problems = []
    if document.get("lockVersion") != LOCK_FORMAT:
        problems.append(
            f"{path}: lockVersion: {document.get('lockVersion')!r} is not allowed; this hybrid-infra reads {LOCK_FORMAT}; {rerun}"
        )
    if document.get("stack") != stack:
        problems.append(f"{path}: stack: {document.get('stack')!r} is not allowed; this file locks stack {stack!r}; {rerun}")
    for name in sorted(set(document) - {"artifacts", "lockVersion", "stack"}, key=str):
        problems.append(f"{path}: {name}: unknown key; use artifacts, lockVersion and stack")
    entries = {}
    for key, given in (document.get("artifacts") or {}).items():
        entry, found = _entry(path, str(key), given, rerun)
        problems += found
        if entry is not None:
            entries[entry.key] = entry
    if problems:
        raise LockFileError(problems)
    return Lock(path, stack, entries)


def _entry(path: Path, key: str, given: Any, rerun: str) -> tuple[LockEntry | None, list[str]]:
    where = f"{path}: artifacts.{key}"
    if not isinstance(given, dict):
        return None, [f"{where}: {given!r} is not allowed; expected a mapping of {', '.join(_ENTRY_KEYS)}"]
    problems = [
        f"{where}.{name}: unknown key; use {', '.join(_ENTRY_KEYS)}" for name in sorted(map(str, set(given) - set(_ENTRY_KEYS)))
    ]
    for name in _ENTRY_KEYS:
        value = given.get(name)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            problems.append(f"{where}.{name}: {value!r} is not allowed; a non-empty string is needed")
    sha256 = given.get("sha256")
    if sha256 is None:
        problems.append(f"{where}.sha256: missing; {rerun}")
    elif isinstance(sha256, str) and not _SHA256.fullmatch(sha256):
        problems.append(f"{where}.sha256: {sha256!r} is not allowed; use the 64 lower-case hex digits of a sha256 digest; {rerun}")
    if given.get("version") is None:
        problems.append(f"{where}.version: missing; {rerun}")
    if (given.get("url") is None) == (given.get("file") is None):
        problems.append(f"{where}: give url or file, one of them; {rerun}")
    if given.get("chart") is not None and (given.get("repository") is None or given.get("url") is None):
        problems.append(f"{where}: a chart's entry needs repository and url; {rerun}")
    if problems:
        return None, problems
    return (
        LockEntry(
            key,
            given["version"],
            given["sha256"],
            url=given.get("url"),
            file=given.get("file"),
            chart=given.get("chart"),
            repository=given.get("repository"),
        ),
        [],
    )


def render_lock(stack: str, entries: list[LockEntry]) -> str:
    """The lock file's text: the same entries give the same bytes (keys sorted, no date)."""
    document = {
        "artifacts": {entry.key: entry.document() for entry in sorted(entries, key=lambda e: e.key)},
        "lockVersion": LOCK_FORMAT,
        "stack": stack,
    }
    return HEADER.format(stack=stack) + yaml.safe_dump(document, sort_keys=True, default_flow_style=False, width=4096)


def write_lock(path: Path, stack: str, entries: list[LockEntry]) -> None:
    _write_atomically(path, render_lock(stack, entries).encode())


# --- what a run registers ----------------------------------------------------------------------


@dataclass
class Artifact:
    """An artifact the program registered, as the plan and ``hybrid-infra lock`` see it."""

    key: str
    kind: Literal["manifest", "chart"]
    name: str
    """The manifest's component, or the chart's name."""
    version: str
    lock: str
    """``locked sha256:<digest>`` or ``unlocked``."""
    url: str | None = None
    file: str | None = None
    repository: str | None = None
    pinned_sha256: str | None = None
    """The digest the stack (or the package, for its defaults) pins, checked besides the lock."""
    resource: str | None = None
    """The Helm release's resource name."""
    objects: int | None = None
    """How many objects a manifest registered; None where it was not read (a URL, offline)."""

    @property
    def source(self) -> str:
        return self.repository or self.url or self.file or ""

    def facts(self) -> dict[str, Any]:
        """The plan's summary of it (report.md, ``plan --format json``)."""
        return {
            "key": self.key,
            "kind": self.kind,
            "name": self.name,
            "version": self.version,
            "source": self.source,
            "lock": self.lock,
            "objects": self.objects,
        }

    def line(self) -> str:
        """One line of ``hybrid-infra plan``'s output."""
        pinned = f" (pinned sha256 {self.pinned_sha256})" if self.pinned_sha256 else ""
        if self.kind == "chart":
            return f"{self.key}: chart {self.name} {self.version} from {self.source}: {self.lock}"
        head = f"{self.key}: {self.name} {self.version} from {self.source}{pinned}: {self.lock}"
        if self.objects is None:
            return head + "; not expanded offline, `pulumi up` fetches and registers its objects"
        return head + f"; registers {self.objects} objects"


@dataclass
class Ledger:
    """The lock a run checks against, and the artifacts it registered."""

    lock: Lock | None
    spec: BaseModel | None = None
    """The stack's spec, to name the key of each chart it configures."""
    artifacts: list[Artifact] = field(default_factory=list)

    def chart_key(self, source: ChartSpec) -> str | None:
        """The key path of the stack that configures ``source`` (``addons.charts.cilium``)."""
        if self.spec is None:
            return None
        found = _chart_keys(self.spec, "")
        return next((key for chart, key in found if chart is source), None) or next(
            (key for chart, key in found if chart == source), None
        )


def _chart_keys(model: BaseModel, path: str) -> list[tuple[ChartSpec, str]]:
    found = []
    for name, info in type(model).model_fields.items():
        value = getattr(model, name, None)
        key = f"{path}.{info.alias or name}" if path else info.alias or name
        if isinstance(value, ChartSpec):
            found.append((value, key))
        elif isinstance(value, BaseModel):
            found += _chart_keys(value, key)
    return found


_ledger: ContextVar[Ledger | None] = ContextVar("hybrid_infra_lock_ledger", default=None)
_discovered: dict[tuple[str, str, str], Lock | None] = {}


@contextmanager
def recording(ledger: Ledger) -> Iterator[Ledger]:
    """Run a program against ``ledger.lock`` and record what it registers in ``ledger``."""
    token = _ledger.set(ledger)
    try:
        yield ledger
    finally:
        _ledger.reset(token)


def deploying() -> bool:
    """Whether the Pulumi engine runs the program (``pulumi up``, ``preview``), not mocks nor nothing."""
    monitor = pulumi.runtime.settings.get_monitor()
    return monitor is not None and not isinstance(monitor, MockMonitor)


def active_ledger() -> Ledger | None:
    """The recording, or under the engine, a ledger of the lock file beside the running stack."""
    ledger = _ledger.get()
    if ledger is None and deploying():
        return Ledger(discover_lock(pulumi.get_project(), pulumi.get_stack()))
    return ledger


def discover_lock(project: str, stack: str) -> Lock | None:
    """The lock of ``stack`` when the working directory holds the Pulumi project ``project``: its
    ``Pulumi.yaml`` gives the stack config directory. Elsewhere (a component provider serving
    another project's program) there is none."""
    cache = (str(Path.cwd()), project, stack)
    if cache not in _discovered:
        found = None
        for name in ("Pulumi.yaml", "Pulumi.yml"):
            try:
                document = yaml.safe_load(Path(name).read_text())
            except (OSError, yaml.YAMLError):
                continue
            if isinstance(document, dict) and document.get("name") == project:
                stacks_dir = Path(str(document.get("stackConfigDir") or "."))
                found = load_lock(lock_path(stacks_dir, stack), stack)
            break
        _discovered[cache] = found
    return _discovered[cache]


def _record(artifact: Artifact) -> None:
    ledger = _ledger.get()
    if ledger is not None:
        ledger.artifacts.append(artifact)


def _warn_missing(lock: Lock, key: str) -> None:
    pulumi.log.warn(f"{key}: not in {lock.path}: `pulumi up` fetches it unverified; run {lock.relock} to lock it")


# --- release manifests -----------------------------------------------------------------------


def manifest_entry(key: str, version: str, url: str | None, file: str | None) -> LockEntry | None:
    """The lock entry of the manifest the stack configures at ``key``, None where it has none;
    :class:`ConfigError` where the entry was made for another version or source."""
    ledger = active_ledger()
    lock = ledger.lock if ledger else None
    entry = lock.entries.get(key) if lock else None
    if lock is None or entry is None:
        return None
    if (entry.version, entry.url, entry.file) != (version, url, file):
        raise ConfigError([_stale(lock, entry, version, url or file or "")])
    return entry


def record_manifest(
    key: str,
    component: str,
    version: str,
    url: str | None,
    file: str | None,
    pinned_sha256: str | None,
    objects: int | None,
) -> None:
    """Record a release manifest the program registered (or, offline, only pinned)."""
    entry = manifest_entry(key, version, url, file)
    ledger = active_ledger()
    if entry is None and ledger is not None and ledger.lock is not None:
        _warn_missing(ledger.lock, key)
    _record(
        Artifact(
            key,
            "manifest",
            component,
            version,
            entry.state if entry else UNLOCKED,
            url=url,
            file=file,
            pinned_sha256=pinned_sha256,
            objects=objects,
        )
    )


def verify(key: str, version: str, url: str | None, file: str | None, data: bytes) -> None:
    """Refuse the bytes of the manifest at ``key`` when its lock entry has another digest."""
    entry = manifest_entry(key, version, url, file)
    if entry is not None:
        check(entry, data, url or file or "")


def check(entry: LockEntry, data: bytes, where: str) -> None:
    found = hashlib.sha256(data).hexdigest()
    if found != entry.sha256:
        ledger = active_ledger()
        lock = ledger.lock if ledger else None
        path, relock = (lock.path, lock.relock) if lock else ("the lock file", "`hybrid-infra lock`")
        raise ConfigError(
            [
                f"{entry.key}: {where} has sha256 {found}, {path} locks sha256 {entry.sha256}; its bytes changed since "
                f"it was locked: restore them, or run {relock} if the change is meant"
            ]
        )


def _stale(lock: Lock, entry: LockEntry, version: str, source: str) -> str:
    """An entry made for another version or source than the stack asks now: one line."""
    locked_from = entry.repository or entry.source
    return (
        f"{entry.key}: {lock.path} locks {entry.version} from {locked_from}, the stack asks {version} from {source}; "
        f"run {lock.relock} after changing a version or a source"
    )


# --- Helm charts -------------------------------------------------------------------------------


def chart_entry(chart: str, source: ChartSpec, key: str | None = None) -> LockEntry | None:
    """The lock entry of ``chart`` at ``source``'s repository and version, None where it has none;
    :class:`ConfigError` where the lock holds the chart for another version or repository.

    Found by ``key`` where the run knows it (the plan), else by the chart's name (``pulumi up``,
    which runs without the stack's spec at hand): a stack installs a chart once."""
    ledger = active_ledger()
    lock = ledger.lock if ledger else None
    if lock is None:
        return None
    if key is not None and key in lock.entries:
        candidates = [lock.entries[key]]
    else:
        candidates = [entry for entry in lock.entries.values() if entry.chart == chart]
    for entry in candidates:
        if (entry.chart, entry.repository, entry.version) == (chart, source.repository, source.version):
            return entry
    if candidates:
        entry = candidates[0]
        stale = _stale(lock, entry, source.version, source.repository)
        if entry.chart != chart:
            stale = f"{entry.key}: {lock.path} locks chart {entry.chart}, the stack installs chart {chart} there; run {lock.relock}"
        raise ConfigError([stale])
    return None


def record_chart(chart: str, source: ChartSpec, resource: str) -> LockEntry | None:
    """The chart's lock entry (see :func:`chart_entry`), recorded as an artifact of the run."""
    ledger = active_ledger()
    key = ledger.chart_key(source) if ledger else None
    entry = chart_entry(chart, source, key)
    shown = key or f"chart {chart}"
    if entry is None and ledger is not None and ledger.lock is not None:
        _warn_missing(ledger.lock, shown)
    _record(
        Artifact(
            shown,
            "chart",
            chart,
            source.version,
            entry.state if entry else UNLOCKED,
            repository=source.repository,
            resource=resource,
        )
    )
    return entry


def chart_archive(entry: LockEntry, chart: str) -> PurePosixPath:
    """Where the checked archive is kept, relative to the program's directory: named by its digest,
    so the release's input is the same on every machine and changes only with the bytes."""
    name = re.sub(r"[^A-Za-z0-9._+-]", "_", f"{chart}-{entry.version}") + ".tgz"
    return CHART_CACHE / f"sha256-{entry.sha256}" / name


def locked_chart(entry: LockEntry, chart: str, directory: Path, fetch: bool) -> str:
    """The local archive the provider installs; with ``fetch`` (under the engine), downloaded from the
    entry's URL and checked first, unless the program's directory holds it with the locked digest."""
    relative = chart_archive(entry, chart)
    if fetch:
        path = directory / relative
        try:
            kept = path.read_bytes()
        except OSError:
            kept = None
        if kept is None or hashlib.sha256(kept).hexdigest() != entry.sha256:
            data = download(entry.url or "", entry.key)
            check(entry, data, entry.url or "")
            ignore = directory / CHART_CACHE.parts[0] / ".gitignore"
            if not ignore.exists():
                _write_atomically(ignore, b"# Chart archives checked against the stacks' lock files (hybrid-infra).\n*\n")
            _write_atomically(path, data)
    return str(relative)


# --- downloads -----------------------------------------------------------------------------------


def download(url: str, key: str) -> bytes:
    """The bytes at ``url``; :class:`ConfigError` naming ``key`` when they cannot be fetched."""
    try:
        with urllib.request.urlopen(url, timeout=FETCH_TIMEOUT_SECONDS) as answer:
            data: bytes = answer.read()
            return data
    except (OSError, ValueError) as error:
        raise ConfigError([f"{key}: {url} cannot be fetched ({error})"]) from None


def resolve_reference(base: str, reference: str) -> str:
    """``reference`` resolved against a chart repository's URL, as Helm resolves an index entry's URL
    (helm v3.19.0, pkg/repo/chartrepo.go ``ResolveReferenceURL``): an absolute URL stays; otherwise
    the repository's path gains a trailing slash and keeps its query."""
    if urllib.parse.urlsplit(reference).scheme:
        return reference
    parts = urllib.parse.urlsplit(base)
    directory = parts._replace(path=parts.path.rstrip("/") + "/")
    resolved = urllib.parse.urlsplit(urllib.parse.urljoin(urllib.parse.urlunsplit(directory), reference))
    return urllib.parse.urlunsplit(resolved._replace(query=parts.query))


def chart_url(key: str, chart: str, source: ChartSpec, index: bytes) -> tuple[str, str | None]:
    """The archive URL of ``chart`` at ``source.version`` in a repository's ``index.yaml``, as Helm picks
    it (``entries[chart]``, the version given, its first URL), and the digest the index states."""
    where = resolve_reference(source.repository, "index.yaml")
    try:
        document = yaml.load(index, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as error:
        raise ConfigError([f"{key}: {where} is not a chart repository index ({getattr(error, 'problem', error)})"]) from None
    versions = ((document or {}).get("entries") or {}).get(chart) if isinstance(document, dict) else None
    if not isinstance(versions, list) or not versions:
        raise ConfigError([f"{key}.repository: {source.repository} has no chart {chart!r} in {where}"])
    listed = [item for item in versions if isinstance(item, dict)]
    wanted = source.version
    found = next((item for item in listed if str(item.get("version")) == wanted), None) or next(
        (item for item in listed if str(item.get("version")).removeprefix("v") == wanted.removeprefix("v")), None
    )
    if found is None:
        newest = ", ".join(str(item.get("version")) for item in listed[:5])
        raise ConfigError(
            [f"{key}.version: {wanted!r} is not a version of chart {chart} in {where}; give an exact one, such as {newest}"]
        )
    urls = found.get("urls") or []
    if not urls or not isinstance(urls[0], str):
        raise ConfigError([f"{key}: chart {chart} {wanted} in {where} has no downloadable URL"])
    digest = found.get("digest")
    return resolve_reference(source.repository, urls[0]), digest if isinstance(digest, str) else None


def lock_artifacts(artifacts: list[Artifact], project_dir: Path) -> list[LockEntry]:
    """Download (or read) every artifact and digest it; :class:`ConfigError` with one line per
    artifact that cannot be locked, and then none is."""
    entries: dict[str, LockEntry] = {}
    problems: list[str] = []
    indexes: dict[str, bytes] = {}
    for artifact in sorted(artifacts, key=lambda artifact: artifact.key):
        if artifact.key in entries:
            continue
        try:
            entries[artifact.key] = _lock_one(artifact, project_dir, indexes)
        except ConfigError as error:
            problems += error.problems
    if problems:
        raise ConfigError(problems)
    return sorted(entries.values(), key=lambda entry: entry.key)


def _lock_one(artifact: Artifact, project_dir: Path, indexes: dict[str, bytes]) -> LockEntry:
    key = artifact.key
    if artifact.kind == "chart":
        if artifact.repository is None or key.startswith("chart "):
            raise ConfigError([f"{key}: no key of the stack configures it; it cannot be locked"])
        source = ChartSpec(repository=artifact.repository, version=artifact.version)
        index_url = resolve_reference(artifact.repository, "index.yaml")
        if index_url not in indexes:
            indexes[index_url] = download(index_url, f"{key}.repository")
        url, stated = chart_url(key, artifact.name, source, indexes[index_url])
        digest = hashlib.sha256(download(url, key)).hexdigest()
        if stated is not None and stated != digest:
            raise ConfigError([f"{key}: {url} has sha256 {digest}, the repository's index.yaml states {stated}; not locked"])
        return LockEntry(key, artifact.version, digest, url=url, chart=artifact.name, repository=artifact.repository)
    if artifact.file is not None:
        try:
            data = (project_dir / artifact.file).read_bytes()
        except OSError as error:
            raise ConfigError([f"{key}.file: {artifact.file!r} cannot be read ({error.strerror})"]) from None
    else:
        data = download(artifact.url or "", key)
    digest = hashlib.sha256(data).hexdigest()
    if artifact.pinned_sha256 and artifact.pinned_sha256 != digest:
        raise ConfigError(
            [f"{key}: {artifact.source} has sha256 {digest}, the stack pins {artifact.pinned_sha256} ({key}.sha256); not locked"]
        )
    return LockEntry(key, artifact.version, digest, url=artifact.url, file=artifact.file)


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
