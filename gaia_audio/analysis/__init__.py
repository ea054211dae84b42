"""Analysis of trained models: embeddings, attribute vectors, evaluation."""
