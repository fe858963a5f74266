"""Pipeline stages over content-addressed artifacts.

base model -> method -> attack -> generations -> scores, plus utility and erasure probes per
model. Each stage's key hashes everything that determines its output (parent key, plugin name,
VERSION and config, data hash, seed; never batch sizes), so re-running is free and changing
only the scorer re-scores without regenerating. Long stages append per-item records to their
partial folder and resume from them.

One module per family: ``runtime`` (what stages share), ``models`` (base, oracle, method),
``splits`` (the board's data splits), ``items`` (the evaluation prompts), ``generation`` (continuations and scores), ``measure`` (utility
and erasure probes), ``attack``. Callers use the names below.
"""

from bench.stages.attack import attack
from bench.stages.generation import generations, scores
from bench.stages.items import eval_items
from bench.stages.measure import probe, utility
from bench.stages.models import (
    base_model,
    has_oracle,
    method_key,
    method_model,
    model_key,
    oracle_model,
    oracle_organism_key,
    organism,
    organism_key,
)
from bench.stages.runtime import CORE, ModelRef, Runtime, Splits, scorer_identity, software
from bench.stages.splits import FILE_PARTS, SPLITS, board_data, files_data_key, files_parts, organism_data_key

__all__ = [
    "CORE",
    "FILE_PARTS",
    "SPLITS",
    "ModelRef",
    "Runtime",
    "Splits",
    "attack",
    "base_model",
    "eval_items",
    "board_data",
    "files_data_key",
    "files_parts",
    "generations",
    "has_oracle",
    "method_key",
    "method_model",
    "model_key",
    "oracle_model",
    "oracle_organism_key",
    "organism",
    "organism_data_key",
    "organism_key",
    "probe",
    "scorer_identity",
    "scores",
    "software",
    "utility",
]
