"""Generator backends: prompts -> continuations (``hf``: transformers in-process; ``vllm``: the vLLM
engine in a child process). Each has ``create(...)`` and ``close()``; the registry names them."""
