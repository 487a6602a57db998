"""KFP pipelines: prompt2model (a prompt to an evaluated, optionally deployed model) and index
(catalogs to the retrieval indices prompt2model imports), their Kubernetes settings, compilation,
submission to a cluster and the local runner behind `p2m run`.
"""
