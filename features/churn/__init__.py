"""Churn: point-in-time training data, baselines, metrics and the LightGBM churn model built on them.

Training data from several snapshots (:mod:`features.churn.dataset`), baselines (:mod:`features.churn.baselines`:
recency logistic regression, BG/NBD), metrics (:mod:`features.churn.metrics`) and the model.

Modules are imported by name (``from features.churn.dataset import churn_dataset``), so importing one does not
pull in another's heavy libraries.
"""
