"""Where examples come from: dataset sources, the one file reader, labeled texts."""
