"""SPDSegment: Saliency-Guided Prompt Distillation for SAM, as a Qt-free library and the ``spdsegment`` command.

``engine`` holds the method and imports neither slicer nor qt. Research use only.
"""

__version__ = "0.1.0"
