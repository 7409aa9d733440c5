#!/bin/sh
# Gradescope runs setup.sh once, as root, when it builds the autograder image (its base is
# Gradescope's Ubuntu image, gradescope/autograder-base). The autograder zip holds:
#   setup.sh, run_autograder, grader-check.sh (from contrib/), lab/ (the socklab lab folder:
#   lab.yaml, solution/ for the pairings' reference programs), socklab-*.whl (pip wheel of socklab)
set -eu
SOURCE=${SOURCE:-/autograder/source}
apt-get install -y --no-install-recommends python3 python3-venv python3-scapy tcpdump util-linux iproute2 \
    bubblewrap
python3 -m venv --system-site-packages /opt/socklab
/opt/socklab/bin/pip install --no-cache-dir "$SOURCE"/socklab-*.whl
chmod 0700 "$SOURCE"    # the lab's reference programs are not the students' to read
