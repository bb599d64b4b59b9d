"""Operating the Blossom stack: the local cluster, migrations, checks and process supervision.

Developer tooling only; the edge and the pipeline never import it at run time.
"""
