"""VisE (Jia et al.): pretraining an image CNN on pseudo-labels from clustered engagement."""
