"""First Impressions Matter (PixelRec): engagement targets, CatBoost on embeddings and engineered features,
a fusion classifier and a multimodal regression model over frozen image and text embeddings."""
