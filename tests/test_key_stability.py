"""Moving code between rooms changes no cache key.

``tests/fixtures/grid_keys.json`` holds every stage key of the tiny board's grid (two seeds, every
method and attack, versions fixed), written by ``python -m tests.keyprint`` before the stages and
config were split. A key that changes orphans every stored artifact under it, so a refactor that
alters a key by accident (a field renamed, a default moved, an argument dropped) fails here.
A change that is meant to change keys rewrites the fixture in the same commit and says why.

Rewritten in the commit "Keys by content, not by name (issue 33, item 6)": a method's and an
attack's key hold the plugin that runs (``use``), never the row's name, so a row with its plugin's
exact config (``npo@matched`` at factor 1, a variant equal to its plugin's entry) shares that
entry's stored model or attack. Plain entries keep their keys; the tiny board's named variants
(``repo-match``, ``repo-grl``, ``repo-retain``, ``neuron_ablate-random``: until then keyed by name
and ``use``) and everything downstream of them got new keys, and the cells added since the first
recording (``undo-a20``, ``undo-a50``, ``undo-a80``, ``repnoise``) were recorded.

Rewritten again in the commit that set ``ORGANISM_VERSION`` to 6 (issue 34, item 3): a sixth of
the organism's prose is held out of its corpus as the ``relearn_benign`` split, so every organism
key and every key under it changed; ``relearn_benign``'s config reads ``data: prose``.

Extended in the commit that moved ``bench/`` into folders by question (issue 40): the fixture now
holds every entry of the board file, the graded controls (``locked-s640``, ``logit_filter-s90``) and
the certification sweeps' variants (``relearn~lr1e-3``) included, recorded by the code before the
move (a worktree of its parent commit); the moved code computes the same 2,495 keys.
"""

from __future__ import annotations

import json

from tests.keyprint import FIXTURE, grid_keys


def test_every_key_of_the_grid_is_the_one_recorded_before_the_move():
    recorded = json.loads(FIXTURE.read_text())
    now = grid_keys()
    # cells added to the board since (a new method, a new attack) bring keys of their own; every
    # recorded cell must still be there, under the same key
    assert not set(recorded) - set(now), sorted(set(recorded) - set(now))[:5]
    changed = sorted(k for k in recorded if now[k] != recorded[k])
    assert not changed, f"{len(changed)} keys changed, e.g. {changed[:5]}"


def test_the_keys_tell_cells_apart():
    """The recorded grid is not degenerate: methods, seeds and attacks each get their own keys."""
    keys = grid_keys()
    distinct = ("method dpo s0", "method dpo s1", "method npo s0", "method npo s1")
    assert len({keys[k] for k in distinct}) == len(distinct)
    assert keys["attack gcg on dpo s0"] != keys["attack relearn on dpo s0"]
    assert keys["method none s0"] == keys["organism s0"]  # `none` is the base model itself


def test_the_fixture_covers_graded_controls_and_sweep_variants():
    """A graded control's or a sweep's key that changes fails the first test only if it is recorded."""
    recorded = json.loads(FIXTURE.read_text())
    for label in (
        "method locked-s640 s0",
        "method logit_filter-s90 s1",
        "attack relearn~lr1e-3 on locked s0",
        "attack gcg~s160 on logit_filter-s10 s1",
        "config steer~a16 on locked-s40 s0",
    ):
        assert label in recorded, label
