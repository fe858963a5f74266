"""The evaluation items stage: the board's evaluation prompts cut to ``prompt_max_tokens`` tokens by
the base model's tokenizer, each with its GCG target when its file gives one."""

from __future__ import annotations

import json
from pathlib import Path

from bench.errors import BenchError
from bench.modeling import bos_ids, context_length
from bench.stages.runtime import CORE, ModelRef, Runtime, Splits, software
from bench.store import make_key


def eval_items(rt: Runtime, base: ModelRef, data: Splits) -> list[dict]:
    """Eval prompts cut to ``prompt_max_tokens`` tokens; each keeps its own GCG target if its file
    gives one (else ``None``: prompt attacks then aim at the base model's continuation). Stored as
    a cached artifact, so a run that finds everything cached loads neither tokenizer nor model."""
    spec, gen = rt.board.data, rt.board.generation
    key = make_key(
        kind="items",
        version=1,
        model=base.key,
        data=data.key,
        prompt_max_tokens=spec.prompt_max_tokens,
        max_new_tokens=gen.max_new_tokens,
        # the cut prompts are the tokenizer's decode of its own encoding: its class (which
        # trust_remote_code can change) and the tokenizer libraries' versions decide them
        trust_remote_code=base.spec.trust_remote_code,
        software=software(*CORE, "tokenizers"),
    )

    def make(tmp: Path, partial: Path) -> dict:
        tok = rt.tokenizer(base)
        ctx = context_length(rt.model(base))
        items = []
        for i, item in enumerate(data["eval_prompts"]):
            ids = tok(item["prompt"], add_special_tokens=False)["input_ids"][: spec.prompt_max_tokens]
            if len(bos_ids(tok)) + len(ids) + gen.max_new_tokens > ctx:
                raise BenchError(
                    f"eval prompt {i} needs {len(ids) + gen.max_new_tokens} tokens with generation; "
                    f"the model's context is {ctx}: lower data.prompt_max_tokens"
                )
            items.append({"prompt": tok.decode(ids), "target": item.get("target") or None})
        if not items:
            raise BenchError("no evaluation prompts")
        (tmp / "items.json").write_text(json.dumps(items), encoding="utf-8")
        return {"n": len(items)}

    path = rt.stage("items", key, "eval prompts", make)
    return json.loads((path / "items.json").read_text(encoding="utf-8"))
