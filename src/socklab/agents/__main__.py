"""`python3 -m socklab.agents ...`: the dispatcher lives in cli.py so tests can call it in-process."""

from socklab.agents.cli import main

raise SystemExit(main())
