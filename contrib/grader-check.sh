#!/bin/sh
# grader-check.sh — can this container run socklab's netns backend? Prints the first thing
# missing, exits 1 if something is. Used by both platform recipes before grading.
#
# The netns backend needs, in the grader container: CAP_SYS_ADMIN (network namespaces and
# their bind mounts), CAP_NET_ADMIN (veths, addresses, routes), CAP_NET_RAW (tcpdump, raw
# sockets of labs that allow them), plus SETUID/SETGID/SETPCAP (the sandbox's setpriv),
# CHOWN/FOWNER/DAC_OVERRIDE (workspaces owned by the student uid) and KILL (ending them).
# Docker mounts /proc/sys read-only: with CAP_SYS_ADMIN the recipe remounts it read-write,
# since each lab node sets its own net.* sysctls.
need() { command -v "$1" >/dev/null 2>&1 || { echo "missing program: $1 ($2)"; exit 1; }; }
need tcpdump "apt-get install tcpdump"
need nsenter "apt-get install util-linux"
need setpriv "apt-get install util-linux"
need prlimit "apt-get install util-linux"
need python3 "apt-get install python3"
if ! unshare --net true 2>/dev/null; then
    echo "cannot create a network namespace here: the container lacks CAP_SYS_ADMIN (or seccomp forbids unshare)"
    exit 1
fi
if ! unshare --net sh -c 'ip link add socklab-chk0 type veth peer name socklab-chk1' 2>/dev/null; then
    echo "cannot create a veth pair here: the container lacks CAP_NET_ADMIN"
    exit 1
fi
if ! unshare --net sh -c 'echo 0 > /proc/sys/net/ipv4/ip_forward' 2>/dev/null; then
    mount -o remount,rw /proc/sys 2>/dev/null || mount -o remount,rw,bind /proc/sys /proc/sys 2>/dev/null
    if ! unshare --net sh -c 'echo 0 > /proc/sys/net/ipv4/ip_forward' 2>/dev/null; then
        echo "cannot write a namespace's sysctls: /proc/sys is read-only and cannot be remounted"
        exit 1
    fi
fi
exit 0
