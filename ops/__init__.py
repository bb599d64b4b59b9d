"""Operating the Blossom stack: the local cluster, scratch databases, checks and process supervision.

Developer tooling only; the edge, the pipeline and deploy (the migrations, which ops calls)
never import it.
"""
