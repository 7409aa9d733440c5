"""What `socklab COMMAND --help` says about each command (its options' help is in cli_options.py).

Plain strings, no imports: cli.py passes them to typer.
"""

HELP = {
    "validate": (
        'Check a lab file; print a one-line summary, or the first problem with its line.'
    ),
    "plan": (
        'Print every kernel object the lab needs (namespaces, interfaces, MACs, addresses, routes):\n'
        'the same lab file and instance name give the same plan, byte for byte.'
    ),
    "up": (
        "Build the lab's network and leave it running (see `status`, `exec`, `down`)."
    ),
    "down": (
        'Remove lab instances and everything they own (namespaces, links, processes).'
    ),
    "status": (
        "List running lab instances, or one instance's nodes, interfaces, addresses and link state."
    ),
    "exec": (
        "Run a command in a node, in the environment scenario steps get; its exit code is socklab's.\n"
        '\n'
        'Example: socklab exec tcp-hello client -- ping -c1 server'
    ),
    "shell": (
        'Open an interactive shell in a node, in the environment scenario steps get (exit to leave).'
    ),
    "run": (
        'Bring a lab up, capture, run its scenario, verify the captures, print the report.\n'
        '\n'
        'Uses the instance if it is already up (and leaves it up). Every run writes a folder\n'
        'runs/<instance>-<timestamp>/ with the plan, step outputs, pcaps and results.json.\n'
        'Exit code: 0 every step and expectation met, 1 not, 2 bad input or not gradable (a capture\n'
        'lost packets: its checks are "not graded"), 3 infrastructure failure.\n'
        '\n'
        'Example: socklab run tcp-hello'
    ),
    "grade": (
        'Grade submissions: each runs sandboxed in a fresh lab instance, is verified and scored.\n'
        '\n'
        "The lab's grading: section says which files a submission holds and which steps run them.\n"
        'Exit code 0 when grading completed (whatever the scores), 2 bad input, 3 infrastructure failure;\n'
        'with --format prairielearn always 0 once the results are written (PrairieLearn ignores them otherwise).\n'
        '\n'
        'Example: socklab grade tcp-hello submission/ --format gradescope -o /autograder/results/results.json'
    ),
    "selftest": (
        "Check a lab's grading: its solution gets full marks, each mutant loses exactly what its expect.yaml says.\n"
        '\n'
        'Mutants are labs/<lab>/mutants/<name>/ (the mutated files and an expect.yaml). Prints a\n'
        'verdict matrix per lab. Exit code 0 when everything is as expected, 1 when not.\n'
        '\n'
        'Example: socklab selftest tcp-hello udp-hello --jobs 4'
    ),
    "verify": (
        "Check a run's saved captures and outputs again, without re-running anything (give a LAB to\n"
        'try edited expectations on an old run). Exit code 0 all met, 1 not, 2 not gradable (a capture lost\n'
        'packets: its checks are "not graded").'
    ),
    "graph": (
        "Draw a lab's topology from its lab file alone: no root, nothing is brought up.\n"
        '\n'
        'Hosts, routers and switches get distinct shapes; interfaces show their addresses,\n'
        'links their subnets. PNG is rendered by headless Chromium (if installed).\n'
        '\n'
        'Examples: socklab graph routed -o routed.svg    socklab graph tcp-hello -f mermaid'
    ),
    "report": (
        "(Re)build a run folder's report.html: topology, timeline, packet ladders, expectations.\n"
        '\n'
        'run, grade and verify write it already; this rebuilds it (e.g. after an upgrade) from\n'
        "the folder's files. The page is self-contained: it works offline and can be mailed. A\n"
        "graded run's page leaves out the checks grading.visibility hides (--all keeps them)."
    ),
    "capture": (
        'Capture live in a running lab: one wire, or several into one pcapng (an interface per node:iface).\n'
        '\n'
        'Without -w, prints one line per packet. Every wire at once in Wireshark:\n'
        'socklab capture tcp-hello -w - | wireshark -k -i -'
    ),
    "link": (
        'Show or change an impaired link of a running lab: set impairments, take it down or up, reset it.\n'
        '\n'
        'Example: socklab link reliable-udp client:eth0 set --delay 50ms --loss 2%'
    ),
    "schema": (
        "Print the lab file's JSON schema (also in schema/lab.schema.json, for editors)."
    ),
    "gc": (
        'Remove what socklab owns that no live lab claims: interrupted `up`s, stray namespaces.'
    ),
}
