"""A release under audit: its root, its validated manifest, and cached evidence (hashes, headers,
chunk scans, the code repository) so that each file is read once whatever the number of checks."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from audit.formats.interface import ChunkScan
from audit.formats.registry import scan_chunk
from audit.frameworks.registry import embedded_model_config
from audit.storage.files import UnsafePath
from audit.storage.hashing import BackgroundDigests, Hasher
from audit.storage.coderepo import CodeRepo, CodeRepoError
from audit.storage.remote import is_remote
from audit.storage.locate import Locator
from audit.storage.remote import Resolver
from audit.spec.manifest import Checkpoint, Chunk, Manifest
from audit.readers import yamlio
from audit.readers.bounded import MAX_YAML_BYTES, load_json, read_bytes
from audit.readers.safetensors_header import HeaderError, SafetensorsHeader, read_header
from audit.core.evidence import Evidence, Replayed, RunReplay, Span


@dataclass
class Release:
    root: Path
    manifest: Manifest
    manifest_sha256: str
    hash_files: bool = True
    hasher: Hasher = field(default_factory=Hasher)
    on_bytes: Callable[[int], None] = lambda n: None  # progress: bytes read by hashing or scanning
    evidence: Evidence = field(default_factory=Evidence)  # computed here, in a shard, or recorded by shards
    resolver: Resolver = field(default_factory=Resolver)  # --resolve-local: remote components → local clones
    _sha: dict[str, str] = field(default_factory=dict)
    _headers: dict[str, SafetensorsHeader | HeaderError] = field(default_factory=dict)
    _scans: dict[str, ChunkScan] = field(default_factory=dict)
    _code: CodeRepo | CodeRepoError | None = None
    _model_config: dict | str | None = None
    _states: dict[int, dict | ValueError] = field(default_factory=dict)
    _memo: dict[Any, Any] = field(default_factory=dict)
    _hashing: tuple[BackgroundDigests, dict[Path, str]] | None = None  # running, and path → rel
    _waiting: list[tuple[str, Callable[[str | OSError], None]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.root = self.root.resolve()
        self.locate = Locator(self.root, self.manifest, self.resolver)  # where each file's contents are
        self.evidence.bind(self.manifest)
        self._sha.update(self.evidence.hashes())
        self._scans.update(self.evidence.scans())

    def memo(self, key: Any, compute: Callable[[], Any]) -> Any:
        """``compute()``, once per key for the life of this release (facts several checks read)."""
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]

    def mine(self, rel: str) -> bool:
        """Whether this run does the expensive work (hashing, recounting) for file ``rel``."""
        return self.evidence.computes(rel)

    def replay(self, selected: list[int], spans: Sequence[Span], run: RunReplay) -> Replayed:
        """The selected segments (indices into ``spans``), replayed by ``run`` or taken from the evidence."""
        return self.evidence.replay(selected, spans, run)

    def path(self, rel: str) -> Path:
        """The local file holding a manifest path's contents (raises :class:`UnsafePath`); see audit.storage.locate."""
        return self.locate.path(rel)

    def has_file(self, rel: str) -> bool:
        """True when ``rel`` is a regular file inside the release (unsafe paths are not)."""
        try:
            return self.path(rel).is_file()
        except UnsafePath:
            return False

    def sha256(self, rel: str) -> str | None:
        """The file's digest; None when another shard hashes it."""
        if rel not in self._sha:
            if not self.mine(rel):
                return None
            self._sha[rel] = self.hasher.digest(self.path(rel), self.on_bytes)
        return self._sha[rel]

    def hashes(self) -> dict[str, str]:
        """Every digest this run computed or was handed, by path."""
        return dict(sorted(self._sha.items()))

    def declared_files(self) -> list[str]:
        """Every file the manifest declares a sha256 for."""
        m = self.manifest
        entries = [f for c in m.checkpoints for f in c.files]
        if m.data:
            entries += [e for c in m.data.chunks for e in (c, c.index) if e is not None]
            entries += [m.data.order.global_indices] if m.data.order.global_indices else []
        entries += [e for e in (m.metrics.training_log, m.metrics.evaluations) if e] if m.metrics else []
        return [e.path for e in entries if e.sha256 is not None]

    def hash_in_background(self, on_bytes: Callable[[int], None]) -> None:
        """Start hashing every declared file, in parallel and in the background: the checks go on meanwhile,
        and a check's comparison with a digest still being computed waits for :meth:`settle_hashes`."""
        todo = {}
        for rel in self.declared_files():
            if rel not in self._sha and self.mine(rel) and self.has_file(rel):
                todo[self.path(rel)] = rel
        self._hashing = (self.hasher.start(todo, on_bytes), todo)

    def when_hashed(self, rel: str, then: Callable[[str | OSError], None]) -> bool:
        """Call ``then`` with the file's digest (or the OSError that kept it from being read): now, or from
        :meth:`settle_hashes` when the background hashing has it in hand. False (and no call) when another
        shard hashes the file."""
        if rel not in self._sha:
            if not self.mine(rel):
                return False
            if self._hashing is not None and self.path(rel) in self._hashing[0].paths:
                self._waiting.append((rel, then))
                return True
        try:
            digest = self.sha256(rel)
        except OSError as exc:
            then(exc)
        else:
            assert digest is not None
            then(digest)
        return True

    def settle_hashes(self) -> None:
        """Wait for the background hashing, then make the comparisons that waited for it, in the order asked."""
        if self._hashing is None:
            return
        pending, todo = self._hashing
        self._hashing = None
        for path, digest in pending.wait().items():
            if isinstance(digest, str):
                self._sha[todo[path]] = digest
        waiting, self._waiting = self._waiting, []
        for rel, then in waiting:
            self.when_hashed(rel, then)  # a file the threads could not read is tried once more, and its error given

    def header(self, rel: str) -> SafetensorsHeader:
        """Parsed safetensors header (raises :class:`HeaderError`; OSError becomes one too)."""
        if rel not in self._headers:
            try:
                self._headers[rel] = read_header(self.path(rel))
            except HeaderError as exc:
                self._headers[rel] = exc
            except OSError as exc:
                self._headers[rel] = HeaderError(f"cannot read: {exc.strerror}")
        got = self._headers[rel]
        if isinstance(got, HeaderError):
            raise got
        return got

    def model_config(self) -> dict[str, Any]:
        """The release's model config.json as a dict; raises ValueError with a one-line reason."""
        if self._model_config is None:
            self._model_config = self._read_model_config()
        if isinstance(self._model_config, str):
            raise ValueError(self._model_config)
        return self._model_config

    def _read_model_config(self) -> dict | str:
        cfg = self.manifest.config
        if cfg is None:
            return "no model config declared (config.model)"
        yaml = cfg.model.endswith((".yaml", ".yml"))  # LitGPT's model_config.yaml
        try:
            path = self.path(cfg.model)
            if not yaml and not cfg.model.endswith(".json") and path.is_file():  # inside a checkpoint (Megatron's args)
                try:
                    embedded = embedded_model_config(path, cfg.model)
                except ValueError as exc:
                    return str(exc)
                if embedded is not None:
                    return embedded
            data = yamlio.loads(read_bytes(path, MAX_YAML_BYTES)) if yaml else load_json(path)
        except UnsafePath as exc:
            return str(exc)
        except FileNotFoundError:
            return f"{cfg.model} does not exist"
        except (OSError, ValueError, RecursionError) as exc:
            return f"{cfg.model} is not valid {'YAML' if yaml else 'JSON'}: {str(exc).splitlines()[0]}"
        if not isinstance(data, dict):
            return f"{cfg.model} is not a {'YAML mapping' if yaml else 'JSON object'}"
        return data

    def training_state(self, ck: Checkpoint) -> dict:
        """The checkpoint's training-state JSON (role training-state, .json), read once and bounded.

        Raises ValueError naming the file when it is absent, too large or not a JSON object."""
        if ck.step not in self._states:
            self._states[ck.step] = self._read_state(ck)
        got = self._states[ck.step]
        if isinstance(got, ValueError):
            raise got
        return got

    def _read_state(self, ck: Checkpoint) -> dict | ValueError:
        files = [f.path for f in ck.files if f.role == "training-state" and f.path.endswith(".json")]
        if not files:
            return ValueError(f"checkpoint at step {ck.step} declares no training-state JSON file")
        try:
            state = load_json(self.path(files[0]))
        except (OSError, ValueError, RecursionError) as exc:
            return ValueError(f"{files[0]}: {str(exc).splitlines()[0]}")
        return state if isinstance(state, dict) else ValueError(f"{files[0]}: not a JSON object")

    def vocab_size(self) -> int | None:
        try:
            v = self.model_config().get("vocab_size")
        except ValueError:
            return None
        return v if type(v) is int and v > 0 else None

    def chunk_scan(self, chunk: Chunk) -> ChunkScan | None:
        """The chunk's recount; None when another shard recounts it."""
        if chunk.path not in self._scans:
            assert self.manifest.data is not None
            if not self.mine(chunk.path):
                return None
            path = self.path(chunk.path)
            self._scans[chunk.path] = scan_chunk(path, self.manifest.data.format, self.vocab_size())
            self.on_bytes(path.stat().st_size)
        return self._scans[chunk.path]

    def scans(self) -> dict[str, ChunkScan]:
        return dict(sorted(self._scans.items()))

    def code_repo(self) -> CodeRepo:
        """The code repository, opened once (raises :class:`CodeRepoError`)."""
        if self._code is None:
            assert self.manifest.code is not None
            ref = self.manifest.code.repo
            try:
                clone = self.locate.remote(ref) if is_remote(ref) else None
                self._code = CodeRepo.open_dir(clone) if clone is not None else CodeRepo.open(self.root, ref)
            except CodeRepoError as exc:
                self._code = exc
        if isinstance(self._code, CodeRepoError):
            raise self._code
        return self._code

    def close(self) -> None:
        if self._hashing is not None:  # the audit ended early (an interrupt): stop the threads
            self._hashing[0].cancel()
            self._hashing = None
        if isinstance(self._code, CodeRepo):
            self._code.close()
        self.locate.close()
