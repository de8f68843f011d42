"""embcompat.backward: the backward-compatible embeddings paper (Hu et al., KDD 2022).

Modules: ``tasks`` (the five unintended tasks of Appendix A.2) and ``consumers`` (the consumer
models C_0 trained on version-0 embeddings and scored on any later embeddings).
"""
