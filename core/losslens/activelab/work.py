"""How much work an ActiveLab simulation is, in one unit, so that its progress bar moves with the
clock instead of with the count of steps.

The unit is one *fit*: training the classifier once, or one cleanlab multi-annotator call
(CROWDLAB consensus, ActiveLab scores), which cost about as much. On the few hundred to few
thousand rows of a simulation a logistic head's fit takes about the same time whatever its rows
(measured: 0.05-0.4 s from 100 to 1,800 rows of 384-d embeddings, 5 classes, one BLAS thread), so
rows are not counted. With K folds:

- an ActiveLab round: K fold fits, the fit on the consensus, CROWDLAB (not in the first round,
  which starts from the majority vote) and the ActiveLab scores (not after the last round);
- a random round: one fit;
- the ceiling of one seed (losslens.activelab.simulation.ceiling_accuracy): K fold fits, CROWDLAB
  and one fit per consensus (two);
- embedding texts (when not cached): ENCODER_SETUP_FITS for loading the encoder, then one fit
  per TOKENS_PER_FIT tokens it reads.

Measured on a 2-core Intel Xeon without bf16, shared with other work, simulated annotators on
2,225 examples: an ActiveLab round took 2-4 s, a random round 0.03-0.15 s, a ceiling 1.1 s. The
rounds' counts are exact; the embedding's is an estimate (its cost against a fit's varies tenfold
between machines). The plan is fixed at the first report, so the fractions only ever grow.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from losslens.activelab.results import STRATEGIES, SimulationSettings

# In the time of one fit MiniLM read ~50 tokens on that Intel Xeon (fp32, shared) and ~500 on the
# 2-core AMD EPYC (bf16, README: Performance); loading it took 5-15 s. Values in between:
TOKENS_PER_FIT = 150
ENCODER_SETUP_FITS = 100
CHARS_PER_TOKEN = 4        # an English text's characters per token, on average
MAX_TOKENS = 256           # the encoder reads at most this many tokens of a text


@dataclass(frozen=True)
class SimulationWork:
    """The planned cost of a simulation with `settings`, in fits (module docstring)."""

    settings: SimulationSettings

    def round_cost(self, strategy: str, r: int) -> int:
        """Fits in round r (0-based) of `strategy` ("activelab" | "random")."""
        if strategy == "random":
            return 1
        return self.settings.folds + 1 + int(r > 0) + int(r < self.settings.rounds - 1)

    @property
    def ceiling_cost(self) -> int:
        """Fits of one seed's ceiling."""
        return self.settings.folds + 3

    @property
    def total(self) -> int:
        """Fits of every round of every strategy and the ceiling, over all seeds."""
        rounds = sum(self.round_cost(s, r) for s in STRATEGIES for r in range(self.settings.rounds))
        return self.settings.seeds * (rounds + self.ceiling_cost)


def embedding_cost(texts: Sequence[str]) -> int:
    """Fits that loading the encoder and embedding `texts` cost (tokens estimated from characters,
    capped at what the encoder reads)."""
    tokens = sum(min(MAX_TOKENS, 2 + len(str(t)) // CHARS_PER_TOKEN) for t in texts)
    return ENCODER_SETUP_FITS + round(tokens / TOKENS_PER_FIT)
