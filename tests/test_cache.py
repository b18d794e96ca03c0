"""losslens.scoring.cache: keys, atomic checksummed arrays, chunk store."""
from __future__ import annotations

import numpy as np

import pytest

from losslens import config
from losslens.scoring.cache import CODE_VERSION, ChunkStore, cache_dir, cache_key, load_array, save_array
from losslens.errors import ConfigError


def test_home_and_cache_folders_are_created_when_asked(tmp_path, monkeypatch):
    monkeypatch.setenv("LOSSLENS_HOME", str(tmp_path / "h"))
    assert not (tmp_path / "h").exists()  # read at call time, nothing happens at import
    assert config.home() == tmp_path / "h" and (tmp_path / "h").is_dir()
    assert cache_dir("probs") == tmp_path / "h" / "probs" and (tmp_path / "h" / "probs").is_dir()


def test_unwritable_home_is_one_clear_error(tmp_path, monkeypatch):
    (tmp_path / "a-file").write_text("x")
    monkeypatch.setenv("LOSSLENS_HOME", str(tmp_path / "a-file" / "home"))
    with pytest.raises(ConfigError, match="cannot create .*a-file/home: Not a directory; point LOSSLENS_HOME at a writable folder"):
        config.home()


def test_cache_key_is_order_free_and_sensitive():
    a = cache_key(model="m", max_length=256, precision="bf16")
    assert a == cache_key(precision="bf16", max_length=256, model="m")
    assert a != cache_key(model="m", max_length=128, precision="bf16")
    assert len(a) == 64 and isinstance(CODE_VERSION, str)


def test_round_trip(tmp_path):
    arr = np.random.default_rng(0).normal(size=(7, 3)).astype(np.float32)
    save_array(tmp_path / "a.npy", arr)
    out = load_array(tmp_path / "a.npy")
    assert out.dtype == np.float32 and np.array_equal(out, arr)
    assert load_array(tmp_path / "missing.npy") is None
    assert [p.name for p in tmp_path.iterdir()] == ["a.npy"]  # no temp files left


def test_truncated_file_is_detected_and_deleted(tmp_path):
    path = tmp_path / "a.npy"
    save_array(path, np.arange(1000, dtype=np.float32))
    path.write_bytes(path.read_bytes()[:-100])
    assert load_array(path) is None and not path.exists()


def test_flipped_byte_is_detected(tmp_path):
    path = tmp_path / "a.npy"
    save_array(path, np.arange(1000, dtype=np.float32))
    raw = bytearray(path.read_bytes())
    raw[-5] ^= 0xFF
    path.write_bytes(bytes(raw))
    assert load_array(path) is None and not path.exists()


def test_garbage_file_is_detected(tmp_path):
    path = tmp_path / "a.npy"
    path.write_bytes(b"")
    assert load_array(path) is None
    np.save(path, np.arange(3))  # a plain .npy without our checksum header
    assert load_array(path) is None


def test_chunk_store_skips_corrupt_chunks(tmp_path):
    store = ChunkStore(tmp_path / "chunks")
    assert store.load_all() == {}
    store.save(0, np.zeros((2, 2), np.float32))
    store.save(1, np.ones((2, 2), np.float32))
    (tmp_path / "chunks" / "chunk_000001.npy").write_bytes(b"LOSSLENS-ARRAY-1\nbroken")
    loaded = store.load_all()
    assert list(loaded) == [0] and np.array_equal(loaded[0], np.zeros((2, 2)))
    store.clear()
    assert store.load_all() == {} and not (tmp_path / "chunks").exists()
