"""`python -m edge`: serve the edge (edge/server.py)."""

from edge.server import main

main()
