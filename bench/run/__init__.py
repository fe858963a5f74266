"""How a grid runs: in this process or on Ray lanes, one cell's rows, matched operating points
(calibration), the dry run's tables, and building preference pairs with a model (``bench pairs``)."""
