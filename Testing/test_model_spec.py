"""Model names are parsed once, into a ModelSpec, with a clear error for what cannot be a model."""

from pathlib import Path

import pytest

from SPDSegmentLib.errors import CheckpointError, InputError
from SPDSegmentLib.inference.model_spec import DEFAULT_ADAPTER, ModelSpec, parse_model_spec
from SPDSegmentLib.inference.options import InferenceOptions


def test_names_parse_into_what_they_mean(tmp_path):
    adapter = tmp_path / "mine.safetensors"
    adapter.write_bytes(b"x")
    assert parse_model_spec("default") == ModelSpec(adapter=DEFAULT_ADAPTER, is_default=True)
    assert parse_model_spec("frozen") == parse_model_spec("litemedsam") == ModelSpec(backbone="litemedsam")
    assert parse_model_spec("sam_vit_b:/w/sam.pth") == ModelSpec(backbone="sam_vit_b", checkpoint=Path("/w/sam.pth"))
    assert parse_model_spec("sam_vit_l:random").random_weights
    assert parse_model_spec("sam_vit_h", missing_checkpoint="random") == ModelSpec(backbone="sam_vit_h",
                                                                                   random_weights=True)
    assert parse_model_spec(str(adapter), "/w/sam.pth") == ModelSpec(adapter=adapter, checkpoint=Path("/w/sam.pth"))
    for text in ("default", "frozen", "sam_vit_b:/w/sam.pth", "sam_vit_l:random", str(adapter)):
        assert parse_model_spec(str(parse_model_spec(text))) == parse_model_spec(text)


@pytest.mark.parametrize("text,error,match", [
    ("sam_vit_b", InputError, "needs a checkpoint"),
    ("nnunet", InputError, "Unknown model"),
    ("missing/adapter.safetensors", CheckpointError, "not found"),
])
def test_what_is_not_a_model_is_refused_with_what_to_do(text, error, match):
    with pytest.raises(error, match=match):
        parse_model_spec(text)


@pytest.mark.parametrize("field,value", [("tau", 1.0), ("neighbours", 11), ("prompt_mode", "masks"),
                                         ("empty_slices", "zero"), ("device", "tpu"), ("precision", "fp8"),
                                         ("batch_size", 0), ("axis", "oblique")])
def test_inference_options_refuse_values_out_of_range(field, value):
    with pytest.raises(InputError):
        InferenceOptions(**{field: value})
