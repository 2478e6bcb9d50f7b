"""The SPD engine: PyTorch, numpy, SimpleITK, scipy, peft, segment-anything; never slicer or qt.

The data path, one module a step (``predictor.SpdPredictor`` runs them in this order)::

    volume.Volume            read by io.read_volume (LPS geometry, (K, J, I) voxels)
    slices.to_stack          volume -> (S, H, W) slices along the slicing axis; ModelFrame -> square input
    prompts / markups        centerline curves and point lists -> per-slice points (simulate: noisy ones)
    backbones.Backbone       slices -> embeddings (encoder with lora.add_lora)
    saliency_head            embeddings -> saliency S_t
    cpd.distil_prompts       prompts + saliency -> consensus prompts and their audit
    backbones.Backbone       consensus -> masks (decoder)
    slices.from_stack        masks -> volume on the input grid; io writes it atomically

Training (train.Trainer, two stages), losses, metrics and evaluate sit beside this path.
"""
