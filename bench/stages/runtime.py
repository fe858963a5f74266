"""What every stage shares: the run's runtime, references to models and data, and the
identities of installed packages and the scorer that enter stage keys."""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from bench import contract, registry
from bench.board.load import Board, ModelSpec
from bench.cores import core_slot
from bench.modeling import load_model, load_tokenizer
from bench.organism.build import OrganismConfig
from bench.progress import Reporter
from bench.record import provenance
from bench.store import Store


@dataclass
class ModelRef:
    """A model later stages can load: a store folder, a local folder or a hub id."""

    key: str
    path: str
    spec: ModelSpec
    organism: OrganismConfig | None = None  # the organism's typed config (not part of the key)


@dataclass
class Splits:
    key: str
    parts: dict  # split name -> list

    def __getitem__(self, name: str):
        return self.parts[name]


class Runtime:
    """Everything a run shares: the board, the store, progress, the manifest, loaded models."""

    def __init__(self, board: Board, store: Store, reporter: Reporter, device: str):
        self.board, self.store, self.reporter, self.device = board, store, reporter, device
        self.manifest: list[dict] = []
        self._models: OrderedDict = OrderedDict()
        self._tokenizers: dict = {}

    def stage(self, stage: str, key: str, label: str, make, meta: dict | None = None) -> Path:
        def waiting(what: str):  # said once, when this process queues behind another
            return lambda who: self.reporter.line(
                f"  [yellow]waiting[/yellow] for {what} held by {who}: {stage} {label}"
            )

        queued = 0.0
        before = getattr(self.store, "total_waited", 0.0)  # waits of stages nested in this one count too
        if self.store.has(stage, key):  # published: a lookup takes no core slot
            t0 = time.time()
            path, cached = self.store.get_or_make(stage, key, make, meta)
        else:  # computing takes one of the machine's core slots (always before the artifact's lock)
            t_queue = time.time()
            with core_slot(on_wait=waiting("a core slot")):
                t0 = time.time()
                queued = t0 - t_queue
                path, cached = self.store.get_or_make(
                    stage, key, make, meta, waiting("this artifact, computed")
                )
        inside = getattr(self.store, "total_waited", 0.0) - before
        waited = queued + inside
        # time spent waiting for another process is not this stage's time (it is recorded apart)
        seconds = round(time.time() - t0 - inside, 3)
        entry = {"stage": stage, "key": key, "label": label, "cached": cached, "seconds": seconds}
        if waited >= 0.05:
            entry["waited"] = round(waited, 3)
        self.manifest.append(entry)
        self.reporter.line(
            f"  {'[dim]cached[/dim]  ' if cached else '[green]computed[/green]'} "
            f"{stage:<9} {label}" + ("" if cached else f"  ({seconds:.1f}s)")
        )
        return path

    def tokenizer(self, ref: ModelRef):
        if ref.path not in self._tokenizers:
            self._tokenizers[ref.path] = load_tokenizer(
                ref.path, ref.spec.trust_remote_code, ref.spec.revision if ref.path == ref.spec.name else None
            )
        return self._tokenizers[ref.path]

    def model(self, ref: ModelRef):
        """A loaded model (shared, do not modify: deep-copy before training)."""
        if ref.key in self._models:
            self._models.move_to_end(ref.key)
            return self._models[ref.key]
        model = load_model(
            ref.path,
            self.device,
            ref.spec.dtype,
            ref.spec.trust_remote_code,
            ref.spec.revision if ref.path == ref.spec.name else None,
        )
        self._models[ref.key] = model
        while len(self._models) > 2:
            self._models.popitem(last=False)
        return model


CORE = ("torch", "transformers")


def software(*packages: str) -> dict[str, str | None]:
    """Installed versions of the packages that can change a stage's output: part of its key."""
    return {p: provenance.package_version(p) for p in packages}


def scorer_identity(board: Board) -> dict:
    """Everything about the board's scorer that can change a score."""
    mod = registry.load("scorers", board.scorer.name)
    return {
        "name": board.scorer.name,
        "version": mod.VERSION,
        "config": board.scorer.config,
        "software": software(*contract.value("scorers", mod, "PACKAGES")),
    }
