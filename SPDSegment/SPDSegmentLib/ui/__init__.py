"""The Slicer panel: the only part of SPDSegmentLib that imports qt, ctk or Slicer's GUI.

``parameters`` (the parameter node), ``install`` (torch and the other packages, on first use) and
``widget`` (the panel). Everything they run is in the Qt-free library, tested headless.
"""
