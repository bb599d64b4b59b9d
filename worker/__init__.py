"""The worker: delivers what the database queues for the outside world (the outbox's mail),
through procrastinate's job queue. `python -m worker` runs it; worker/process.py says how it
runs, worker/delivery.py what one delivery does, worker/messages.py what the mail says."""
