"""The Greedy Coordinate Gradient core shared by the ``gcg`` and ``gcg_enhanced`` attacks.

Three modules, each importing only the ones before it:

* :mod:`bench.prompt_search.candidates`: which tokens may be proposed, sampling candidates from the token
  gradient, and the text side: how a string joins a prompt and which candidates re-tokenise to
  exactly the ids they were scored as.
* :mod:`bench.prompt_search.objective`: the target loss of a batch of strings (:class:`Objective`), the
  shared-prefix KV cache, losses over several prompts in batches, and the token gradient.
* :mod:`bench.prompt_search.loop`: :func:`optimise`, the search itself (config in, result out).

The attack plugins (``attacks/gcg.py``, ``attacks/gcg_enhanced.py``) hold the configs and the
universal / per-prompt set-up on top of these.
"""
