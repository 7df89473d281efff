"""The Instagram dual-attention paper (Zhang et al.): user environment, the dual-attention
classifier with its baselines and ablations, and the image and text analyses."""
