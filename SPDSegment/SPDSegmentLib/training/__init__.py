"""Training and research: the two-stage SPD trainer, its losses and case lists, prompt simulators, the
generated MR-enterography-like volumes, and ``evaluate`` (methods side by side on the same prompts).

Imports the inference package, never the MRML bridge, the logic or the UI.
"""
