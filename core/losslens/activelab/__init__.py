"""ActiveLab: multi-annotator data, CROWDLAB consensus and ActiveLab scores, the classifiers they
use, the ActiveLab-vs-random simulation, its results and charts."""
