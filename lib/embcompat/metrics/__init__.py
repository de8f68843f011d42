"""embcompat.metrics: Recall@K (BC), CMC/mAP retrieval (FCT), linear CKA, kNN accuracy, alignment
error."""
from embcompat.metrics.alignment import alignment_error, relative_degradation
from embcompat.metrics.cka import cka_matrix, linear_cka
from embcompat.metrics.knn import knn_accuracy
from embcompat.metrics.recall import recall_at_k, recall_per_user
from embcompat.metrics.retrieval import retrieval_metrics, retrieval_per_query

__all__ = [
    "alignment_error",
    "cka_matrix",
    "knn_accuracy",
    "linear_cka",
    "recall_at_k",
    "recall_per_user",
    "relative_degradation",
    "retrieval_metrics",
    "retrieval_per_query",
]
