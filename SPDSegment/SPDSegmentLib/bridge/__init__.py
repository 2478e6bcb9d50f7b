"""The MRML bridge: Slicer nodes <-> engine arrays, using only what the slicer-core wheel also has.

No qt, no slicer.app, no slicer.mrmlScene: the scene is always ``node.GetScene()``, so the same code
runs inside Slicer and headless under pytest.
"""
