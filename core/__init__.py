"""LossLens core library: data, models, inference, scoring, review store, export (no UI)."""
