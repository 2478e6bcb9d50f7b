"""Inference: PyTorch, numpy, SimpleITK, scipy, peft, segment-anything; never slicer, vtk or qt.

The data path, one module a step (``predictor.SpdPredictor`` runs them in this order)::

    volume.Volume            read by io.read_volume (LPS geometry, (K, J, I) voxels)
    slices.to_stack          volume -> (S, H, W) slices along the slicing axis; ModelFrame -> square input
    prompts / markup_files   centerline curves and point lists (.mrk.json) -> per-slice points
    backbones.Backbone       slices -> embeddings (encoder with lora.add_lora)
    saliency_head            embeddings -> saliency S_t
    cpd.distil_prompts       prompts + saliency -> consensus prompts and their audit
    decoder_prompts          consensus -> points or boxes for the decoder
    backbones.Backbone       decoder prompts -> masks
    slices.from_stack        masks -> volume on the input grid; io writes it atomically

What a model name means is parsed once (``model_spec``); how a run goes is an ``options.InferenceOptions``
passed per call; ``model`` builds the model and reads/writes adapters; ``metrics`` measures results.
"""
