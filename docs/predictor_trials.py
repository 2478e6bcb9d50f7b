"""What the docs/*_trials.py scripts share: each patches the predictor module in its own process, then runs the
script named first on its command line (docs/hd95_parts.py, docs/sparse_clicks.py, ...) with the arguments after
it, so that script's runs go through the patched code; ``-m MODULE`` runs a module instead (``-m
SPDSegmentLib.tools.demo --out DIR``: the demo). Nothing outside that process changes.
"""

import runpy
import sys


def run_given_script() -> None:
    """Run ``sys.argv[1]`` (or the module after ``-m``) as ``__main__`` with the arguments after it."""
    if sys.argv[1:2] == ["-m"]:
        sys.argv = sys.argv[2:]
        runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
    else:
        sys.argv = sys.argv[1:]
        runpy.run_path(sys.argv[0], run_name="__main__")
