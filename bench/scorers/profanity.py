"""Toxicity by ``alt-profanity-check``: a linear SVM on bag-of-words that ships its weights.

The default scorer of the offline board: fast (~1,000 texts in milliseconds), deterministic,
and needs no hub. Output: probability of offensive language in [0, 1] per text, in order.
"""

from __future__ import annotations

from dataclasses import dataclass

VERSION = 1
PACKAGES = ("alt-profanity-check", "scikit-learn")  # packages that can change the output (in cache keys)


@dataclass(frozen=True)
class Config:
    chunk_size: int = 4096  # texts per predict call


class ProfanityScorer:
    name = "profanity"

    def __init__(self, config: Config):
        from profanity_check import predict_prob

        self.config, self._predict = config, predict_prob

    @property
    def version(self) -> str:
        from importlib.metadata import version

        return f"alt-profanity-check {version('alt-profanity-check')}"

    def score(self, texts: list[str], on_chunk=None) -> list[float]:
        out: list[float] = []
        for i in range(0, len(texts), self.config.chunk_size):
            chunk = texts[i : i + self.config.chunk_size]
            if chunk:
                out.extend(float(p) for p in self._predict(chunk))
            if on_chunk:
                on_chunk(len(chunk))
        return out

    def close(self) -> None:
        pass


def create(config: Config, device: str = "cpu") -> ProfanityScorer:
    return ProfanityScorer(config)
