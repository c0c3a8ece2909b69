"""The attack harness: does the project keep working, and lose nothing, when things go wrong?

    python -m tests.reliability checkpoints   # parts 1-2: crafted pickles and damaged checkpoints (checkpoints.py)
    python -m tests.reliability kills         # part 3: SIGKILLed training and failed writes (kills.py)
    python -m tests.reliability app           # parts 4-6: hostile input, size limits, many visitors (app.py)

Each runs at full size by default and takes flags for smaller runs (`--help`). tests/test_reliability.py runs
their fast, deterministic parts with the test suite. docs/reliability.md describes what each measures.
"""
