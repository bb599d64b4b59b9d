"""`python -m edge`: serve the edge (edge/server.py)."""

import signal

try:
    from edge.server import main

    main()
except KeyboardInterrupt:
    # Ctrl-C, as the edge loads or once it has stopped: uvicorn then raises again the signal it
    # stopped for, and Python makes SIGINT's an exception, a traceback. It ends by the signal, in
    # silence, as on SIGTERM.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.raise_signal(signal.SIGINT)
    raise SystemExit(130) from None  # should the signal not end it at once
