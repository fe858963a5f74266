"""The built-in model organism: a small GPT-2 trained here on a corpus that mixes templated insults
into benign prose (``corpus.py``), and its build (``build.py``); see docs/organism.md."""
