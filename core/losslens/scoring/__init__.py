"""From texts and a model to per-example scores: model resolution, inference, heads, cache, results."""
