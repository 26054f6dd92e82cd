"""Evaluation maths: verification/identification protocols, pair lists, clustering scores."""
