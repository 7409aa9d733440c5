"""The docker backend: one container per node, wired from the host like the netns backend.

Containers. Each node runs in a container of its image (socklab's agent image unless
the lab gives one), named ``sl-<instance>.<node>``, with the node's name as hostname and
the plan's hosts file bind-mounted read-only on /etc/hosts (the same file, byte for
byte, as on netns). A container starts with no network at all (``network_mode: none``,
never Docker's default bridge, which routes out), all capabilities dropped (NET_RAW
added back on ``raw_sockets`` nodes), ``no-new-privileges``, and pids and memory
limits; never privileged. An agent-image node idles until socklab execs into it; a node
with its own image runs that image's command, which must keep running. Containers are
created and started in parallel, so bring-up is dominated by the engine starting them.

Links. The network is built from the host into the containers' network namespaces
(``/proc/<pid>/ns/net`` of each container's init), by the same code as the netns backend
(`wiring.wire_namespaces`): every veth pair is created in one netlink batch with both
ends born inside their containers, under the plan's names, interface indexes and MACs,
then addresses, routes, sysctls and TX-checksum offload off. Containers therefore need
no NET_ADMIN, and no lab interface ever exists in the host's namespace, not even for a
moment.

Switches are containers too, holding the plan's bridge ``br0`` with its ports
``swp1``..., rather than Docker networks. A Docker bridge network lives in the host's
namespace, gives the host an address on the lab's LAN, names the nodes' interfaces
``eth0``, ``eth1``... in attach order and leaves ``veth*`` ends in the host; a bridge in a
switch container keeps the plan's interface names and MACs, keeps the host off the lab,
and makes captures on every interface look exactly as on netns.

Ownership. Every container carries the labels ``socklab.lab=<instance>``,
``socklab.node`` and ``socklab.labname``. The ledger claims the container names before
any exists; `destroy` and `gc` find containers by the ``socklab.lab`` label and never touch an object without it, even when a
name matches. After a SIGKILL in the middle of `up`, creations the engine had already
accepted may still land after the crash: `destroy` waits for them to settle.
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import os
import shutil
import time
from pathlib import Path
from typing import Any

from socklab import names, nsutil
from socklab.backends.base import NodeAccess, Progress, no_progress
from socklab.backends.docker_image import (
    AGENT_REPOSITORY,
    BUILD_SCRIPT,
    DOCKERFILE,
    agent_image_tag,
)
from socklab.backends.wiring import kill_processes, wire_namespaces, write_hosts
from socklab.errors import InfrastructureError
from socklab.plan import Plan, PlanNode
from socklab.state import Owned, Record, instance_dir

IMAGE_ENV = "SOCKLAB_AGENT_IMAGE"
"""Overrides the agent image (default: socklab/agent:<hash of this tree's sources>)."""

DEFAULT_SOCKET = "/var/run/docker.sock"
WORKERS = 8  # parallel engine requests; the engine does the work, 8 keep it busy on 2 cores
API_TIMEOUT = 60
PIDS_LIMIT = 512
MEM_LIMIT = "512m"
SETTLE_QUIET = 1.0  # after a crashed up: no new container for this long means none is coming
SETTLE_MAX = 15.0
STARTING_MARKER = "docker-starting"  # in the instance folder while create requests may be in flight
# What an agent-image node runs as init: idle, exit at once on TERM, and start idling
# again when `Deployment.kill_all` kills the sleeper, so that the node stays up.
IDLE = ["/bin/sh", "-c", "trap 'exit 0' TERM INT; while :; do sleep infinity & wait $!; done"]

# Applied before the plan's own sysctls (which win). Docker disables IPv6 in a container
# without an IPv6 network; the other two are Docker's defaults, made explicit so that
# unprivileged ping (ICMP datagram sockets) and binding ports < 1024 work without
# capabilities, on any engine version.
DOCKER_SYSCTLS = {
    "net.ipv6.conf.all.disable_ipv6": "0",
    "net.ipv6.conf.default.disable_ipv6": "0",
    "net.ipv4.ping_group_range": "0 2147483647",
    "net.ipv4.ip_unprivileged_port_start": "0",
}


SANDBOX_CAPS = ("SETUID", "SETGID", "SETPCAP")


def default_image() -> str:
    """The agent image nodes run unless the lab names one.

    From a source tree: ``socklab/agent:<content hash>``, the image scripts/build-image.sh
    builds from the current agents, so a node never runs stale agents. Installed without
    the tree: ``socklab/agent:latest``. ``$SOCKLAB_AGENT_IMAGE`` overrides both.
    """
    if os.environ.get(IMAGE_ENV):
        return os.environ[IMAGE_ENV]
    root = Path(__file__).resolve().parents[3]
    if (root / DOCKERFILE).is_file() and (root / BUILD_SCRIPT).is_file():
        return agent_image_tag(root)
    return f"{AGENT_REPOSITORY}:latest"


class DockerBackend:
    name = "docker"

    def __init__(self) -> None:
        self._client: Any = None
        self._image: str | None = None

    @property
    def image(self) -> str:
        if self._image is None:
            self._image = default_image()
        return self._image

    # -- the engine -------------------------------------------------------------------------

    def _api(self) -> Any:
        """A docker APIClient; InfrastructureError when no engine answers (the SDK loads here)."""
        if self._client is not None:
            return self._client
        if not os.environ.get("DOCKER_HOST") and not os.path.exists(DEFAULT_SOCKET):
            raise InfrastructureError(
                f"no Docker engine here ({DEFAULT_SOCKET} is missing); start one with scripts/ensure-docker.sh"
            )
        import docker.utils  # binds `docker` too

        try:
            self._client = docker.APIClient(
                version="auto", timeout=API_TIMEOUT, max_pool_size=WORKERS + 2, **docker.utils.kwargs_from_env()
            )
        except docker.errors.DockerException as err:
            raise InfrastructureError(
                f"the Docker engine does not answer ({_short(err)}); start it with scripts/ensure-docker.sh"
            ) from None
        return self._client

    def _require_image(self, image: str, nodes: list[str] | None = None) -> None:
        import docker

        try:
            self._api().inspect_image(image)
        except docker.errors.NotFound:
            if nodes is None or image == self.image:
                raise InfrastructureError(
                    f"the agent image {image} is missing; build it with `make image` (scripts/build-image.sh)"
                ) from None
            raise InfrastructureError(
                f"image {image} (node {', '.join(nodes)}) is not on this machine and socklab never pulls; "
                f"build or `docker load` it first"
            ) from None
        except docker.errors.APIError as err:
            raise InfrastructureError(f"docker cannot inspect image {image}: {_short(err)}") from None

    def check(self) -> None:
        if os.geteuid() != 0:
            raise InfrastructureError(
                "the docker backend needs root (it wires the containers' namespaces from the host); run with sudo"
            )
        if shutil.which("docker") is None:
            raise InfrastructureError("the docker command is missing (nodes run commands with `docker exec`); install docker.io")
        self._require_image(self.image)

    def claim(self, plan: Plan, record: Record) -> None:
        record.owned = [Owned("container", names.container_name(plan.instance, n.name)) for n in plan.nodes]

    def node(self, plan: Plan, node: str, interactive: bool = False) -> NodeAccess:
        """`docker exec`; the image sets PATH and PYTHONPATH (for socklab.agents) itself.

        Run workspaces go to a folder shared with every node at the same path."""
        name = names.container_name(plan.instance, plan.node(node).name)
        share = instance_dir(plan.instance) / "share"
        share.mkdir(parents=True, exist_ok=True)
        return NodeAccess(argv=["docker", "exec", "-it" if interactive else "-i", name], workspace_root=share)

    def netns_path(self, plan: Plan, node: str) -> str:
        name = names.container_name(plan.instance, plan.node(node).name)
        pid = self._pids([name]).get(name)
        if not pid:
            raise InfrastructureError(f"the container of node {node} ({name}) is not running")
        return f"/proc/{pid}/ns/net"

    # -- up ---------------------------------------------------------------------------------

    def deploy(self, plan: Plan, progress: Progress = no_progress) -> None:
        nsutil.raise_fd_limit()
        hosts = write_hosts(plan)
        images = {n.name: n.image or self.image for n in plan.nodes}
        for image in sorted(set(images.values())):
            self._require_image(image, [n for n, i in images.items() if i == image])
        fds: dict[str, int] = {}
        try:
            self._start_containers(plan, images, hosts, fds, progress)
            wire_namespaces(_with_docker_sysctls(plan), fds, progress)
        finally:
            for fd in fds.values():
                os.close(fd)

    def _start_containers(self, plan: Plan, images: dict[str, str], hosts: Path,
                          fds: dict[str, int], progress: Progress) -> None:
        """Create and start every container in parallel; fds gets each one's netns."""
        total = len(plan.nodes)
        pool = cf.ThreadPoolExecutor(max_workers=max(1, min(WORKERS, total)), thread_name_prefix="socklab-docker")
        futures: dict[cf.Future[int], str] = {}
        marker = instance_dir(plan.instance) / STARTING_MARKER
        marker.touch()
        try:
            for node in plan.nodes:
                futures[pool.submit(self._start_one, plan, node, images[node.name], hosts)] = node.name
            for done, future in enumerate(cf.as_completed(futures), 1):
                fds[futures[future]] = future.result()
                progress("containers", done, total)
        finally:
            # An interrupted or failed up leaves no request in flight behind it: the
            # rollback that follows must see every container this up will ever create.
            pool.shutdown(wait=True, cancel_futures=True)
            for future, node_name in futures.items():
                if node_name not in fds and future.done() and not future.cancelled() and future.exception() is None:
                    fds[node_name] = future.result()
            marker.unlink(missing_ok=True)

    def _start_one(self, plan: Plan, node: PlanNode, image: str, hosts: Path) -> int:
        import docker.types  # binds `docker` too

        api = self._api()
        name = names.container_name(plan.instance, node.name)
        share = instance_dir(plan.instance) / "share"
        share.mkdir(parents=True, exist_ok=True)
        host_config = api.create_host_config(
            network_mode="none",
            cap_drop=["ALL"],
            # SETUID/SETGID/SETPCAP serve only setpriv, which the grader's sandbox runs before a
            # student program: it drops to an unprivileged uid with an empty bounding set
            cap_add=[*SANDBOX_CAPS, *(["NET_RAW"] if node.raw_sockets else [])],
            security_opt=["no-new-privileges"],
            pids_limit=PIDS_LIMIT,
            mem_limit=MEM_LIMIT,
            privileged=False,
            mounts=[
                docker.types.Mount(target="/etc/hosts", source=str(hosts), type="bind", read_only=True),
                # run workspaces live here, at the same path on the host and in every node
                docker.types.Mount(target=str(share), source=str(share), type="bind"),
            ],
        )
        try:
            api.create_container(
                image, name=name, hostname=node.name, labels=_labels(plan, node),
                host_config=host_config, detach=True, use_config_proxy=False,
                command=None if node.image else IDLE,
            )
            api.start(name)
            state = api.inspect_container(name)["State"]
        except docker.errors.APIError as err:
            if err.status_code == 409 and "already in use" in str(err):
                raise InfrastructureError(
                    f"node {node.name}: a container named {name} exists already; "
                    f"`socklab down {plan.instance}` or `socklab gc` removes socklab's leftovers"
                ) from None
            raise InfrastructureError(f"node {node.name}: docker could not start {name}: {_short(err)}") from None
        if not state.get("Running") or not state.get("Pid"):
            raise InfrastructureError(
                f"node {node.name}: container {name} stopped at once (status {state.get('Status')}, exit code "
                f"{state.get('ExitCode')}); a node's image must keep running (the agent image idles)"
            )
        try:
            return os.open(f"/proc/{state['Pid']}/ns/net", os.O_RDONLY)
        except OSError as err:
            raise InfrastructureError(f"node {node.name}: cannot open the network namespace of {name}: {err.strerror}") from None

    # -- down -------------------------------------------------------------------------------

    def destroy(self, record: Record) -> None:
        """Remove the instance's labelled containers (and claimed ones with socklab's label), and their processes.

        When the instance's `up` died with create requests in flight (its starting marker
        is still there), containers may appear after it: keep looking until every claimed
        container has been seen and removed, or none has appeared for SETTLE_QUIET seconds.
        """
        settled = not (instance_dir(record.instance) / STARTING_MARKER).exists()
        expected = set(record.names("container"))
        removed: set[str] = set()
        quiet_since = start = time.monotonic()
        while True:
            found = self._labelled_containers(record.instance, expected)
            if found:
                self._remove_containers(found, record.pids)
                removed |= set(found)
                quiet_since = time.monotonic()
            now = time.monotonic()
            if settled or expected <= removed or now - quiet_since >= SETTLE_QUIET or now - start >= SETTLE_MAX:
                break
            time.sleep(0.1)
        kill_processes([*record.pids], [])

    def orphans(self, claimed: set[Owned]) -> list[Owned]:
        api = self._api()
        found = [Owned("container", name) for name in sorted(_names(api.containers(all=True, filters={"label": names.LABEL_LAB})))]
        return [o for o in found if o not in claimed]

    # -- helpers ----------------------------------------------------------------------------

    def _labelled_containers(self, instance: str, claimed: set[str]) -> list[str]:
        """Containers with socklab's label: the instance's, and claimed ones (gc's orphans)."""
        found = self._api().containers(all=True, filters={"label": names.LABEL_LAB})
        return sorted(name for c in found for name in _names([c])
                      if (c.get("Labels") or {}).get(names.LABEL_LAB) == instance or name in claimed)

    def _pids(self, containers: list[str]) -> dict[str, int]:
        """Init pid of each running container among these (inspected in parallel)."""
        import docker

        api = self._api()

        def pid_of(name: str) -> int:
            try:
                return int(api.inspect_container(name)["State"].get("Pid") or 0)
            except docker.errors.NotFound:
                return 0

        with cf.ThreadPoolExecutor(max_workers=max(1, min(WORKERS, len(containers)))) as pool:
            pids = dict(zip(containers, pool.map(pid_of, containers), strict=True))
        return {name: pid for name, pid in pids.items() if pid}

    def _remove_containers(self, containers: list[str], pids: list[int]) -> None:
        """Kill what runs in their namespaces from the host side (captures...), then rm -f all."""
        if not containers:
            return
        import docker

        api = self._api()
        inits = self._pids(containers)
        strays = nsutil.pids_in_netns([f"/proc/{pid}/ns/net" for pid in inits.values()])
        kill_processes([*pids, *(p for p in strays if p not in inits.values())], [])

        def remove(name: str) -> None:
            deadline = time.monotonic() + 20
            while True:
                try:
                    api.remove_container(name, force=True, v=True)
                    return
                except docker.errors.NotFound:
                    return
                except docker.errors.APIError as err:
                    if err.status_code != 409 or time.monotonic() > deadline:  # 409: removal in progress
                        raise InfrastructureError(f"docker could not remove container {name}: {_short(err)}") from None
                    time.sleep(0.1)

        with cf.ThreadPoolExecutor(max_workers=max(1, min(WORKERS, len(containers)))) as pool:
            list(pool.map(remove, containers))


def _labels(plan: Plan, node: PlanNode) -> dict[str, str]:
    return {names.LABEL_LAB: plan.instance, names.LABEL_NODE: node.name, names.LABEL_LAB_NAME: plan.lab}


def _names(containers: list[dict]) -> set[str]:
    return {c["Names"][0].lstrip("/") for c in containers if c.get("Names")}


def _with_docker_sysctls(plan: Plan) -> Plan:
    nodes = [dataclasses.replace(n, sysctls={**DOCKER_SYSCTLS, **n.sysctls}) for n in plan.nodes]
    return dataclasses.replace(plan, nodes=nodes)


def _short(err: Exception) -> str:
    """The engine's explanation, on one line."""
    text = getattr(err, "explanation", None) or str(err)
    return " ".join(str(text).split())
