"""Toxicity scorers: texts -> probabilities in [0, 1] (``profanity``: alt-profanity-check, which ships
its weights; ``detoxify``: the Detoxify classifiers, checkpoints verified by sha256; ``lexicon``: the
organism's construction lexicon, an exact known-answer judge of the built-in board)."""
