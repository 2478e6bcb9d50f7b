"""Developer tools around the product: ``bench`` (speed), ``demo`` (``make demo``), ``results_page``
(docs/RESULTS.md), ``screenshot`` (the README picture) and the headless MRML helpers they and the tests use
(``headless_scene``, ``render``; they need slicer-core outside Slicer).
"""
