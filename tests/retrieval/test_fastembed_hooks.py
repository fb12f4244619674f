"""fastembed's private hooks that `retrieval/encoders.py` and `retrieval/alignment.py` override or
call. pyproject pins fastembed to one minor version; when an upgrade moves a hook, these fail
first and name it, instead of the encoders silently changing what they store."""

from __future__ import annotations

import inspect
from importlib.metadata import version

import pytest
from fastembed import TextEmbedding
from fastembed.common.onnx_model import OnnxOutputContext
from fastembed.late_interaction.colbert import Colbert
from packaging.requirements import Requirement

from tests.conftest import REPO


def _pinned_fastembed() -> Requirement:
    import tomllib

    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    return next(Requirement(d) for d in deps if d.startswith("fastembed"))


def test_installed_fastembed_is_the_pinned_minor() -> None:
    requirement = _pinned_fastembed()
    assert requirement.specifier.contains(version("fastembed")), requirement
    assert any(s.operator == "<" for s in requirement.specifier), "pin an upper bound"


@pytest.mark.parametrize(
    ("hook", "parameters"),
    [
        ("_list_supported_models", []),
        ("_preprocess_onnx_input", ["self", "onnx_input", "is_doc", "kwargs"]),
        ("_post_process_onnx_output", ["self", "output", "is_doc", "kwargs"]),
        ("onnx_embed", ["self", "documents", "kwargs"]),
    ],
)
def test_colbert_hooks_keep_their_signatures(hook: str, parameters: list[str]) -> None:
    assert list(inspect.signature(getattr(Colbert, hook)).parameters) == parameters


def test_colbert_class_attributes_we_override_exist() -> None:
    # _TokenVectors turns off [MASK] query expansion and the marker token through these
    assert isinstance(Colbert.MIN_QUERY_LENGTH, int)
    assert isinstance(Colbert.RESERVED_MARKER_TOKENS, int)


def test_onnx_output_context_fields() -> None:
    assert {"model_output", "attention_mask", "input_ids"} <= set(
        OnnxOutputContext.__dataclass_fields__
    )


def test_add_custom_model_takes_what_we_pass() -> None:
    params = inspect.signature(TextEmbedding.add_custom_model).parameters
    assert {"model", "pooling", "normalization", "sources", "dim", "model_file"} <= set(params)
