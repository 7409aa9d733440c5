#!/usr/bin/env bash
# build-image.sh — build the socklab agent image for the docker backend, offline.
#
#   scripts/build-image.sh               build (or reuse) socklab/agent:<hash> and :latest
#   scripts/build-image.sh --print-tag   print socklab/agent:<hash> and exit (no engine needed)
#
# No container registry is needed. The steps, each skipped when its result exists:
#   1. socklab/agent:<hash> already exists          -> re-point :latest, exit (< 1 s)
#   2. scripts/ensure-docker.sh                      (install/start the engine)
#   3. socklab/base:bookworm: debootstrap --variant=minbase of Debian bookworm with
#      the PACKAGES below, from the same mirror as this machine's apt sources,
#      trimmed, then `tar -C rootfs -c . | docker import - socklab/base:bookworm`.
#      The rootfs is kept in /var/cache/socklab/rootfs/ (the .debs in
#      /var/cache/socklab/debs/), so a deleted base image is re-imported without
#      debootstrap. The base image carries LABEL socklab.base.recipe=<hash of
#      the recipe>; it is rebuilt when the recipe in this script changes.
#   4. docker build images/agent/Dockerfile FROM that base, with a staged build
#      context (Dockerfile + a copy of src/socklab/agents, possibly empty), tagged
#      socklab/agent:<hash> and socklab/agent:latest.
#
# <hash> — keep in sync with src/socklab/backends/docker_image.py:
#   inputs   images/agent/Dockerfile, scripts/build-image.sh, and every regular
#            file under src/socklab/agents/ except __pycache__/ contents, *.pyc
#            and *.pyo (symlinks are not followed), as repo-relative paths;
#   manifest one line per input in byte-wise (LC_ALL=C) sorted path order, exactly
#            as `sha256sum` prints it: "<sha256 hex of content>  <path>\n";
#   hash     the first 12 hex digits of the sha256 of that manifest.
#
# Environment: SOCKLAB_CACHE (default /var/cache/socklab; ~/.cache/socklab when
# not root, which can build the agent image once the base exists), SOCKLAB_DEBIAN_MIRROR
# (default: the bookworm/main source in apt's configuration, else deb.debian.org).

set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [[ $(id -u) -eq 0 ]]; then
    CACHE=${SOCKLAB_CACHE:-/var/cache/socklab}
else  # a docker-group user can build the agent image once root has made the base
    CACHE=${SOCKLAB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/socklab}
fi
AGENT_REPO=socklab/agent
BASE_IMAGE=socklab/base:bookworm
SUITE=bookworm
VARIANT=minbase
PACKAGES=(python3 python3-scapy iproute2 tcpdump iputils-ping procps ethtool libcap2-bin util-linux)
# Bump when the trimming below changes, to force a new base image.
BASE_RECIPE_VERSION=1

T0=${EPOCHREALTIME/,/.}
log() {
    local now=${EPOCHREALTIME/,/.}
    printf '[build-image %6.1fs] %s\n' "$(awk -v a="$T0" -v b="$now" 'BEGIN{print b-a}')" "$*"
}
die() { echo "build-image: error: $*" >&2; exit 1; }

usage() {
    cat <<EOF
usage: $0 [--print-tag]
  (no argument)  build socklab/agent:<content-hash> and socklab/agent:latest if needed
  --print-tag    print the image reference this tree builds and exit
EOF
}

# ---- content hash (see header; mirrored by socklab.backends.docker_image) ----
content_hash() {
    (
        cd "$REPO"
        {
            printf '%s\n' images/agent/Dockerfile scripts/build-image.sh
            if [[ -d src/socklab/agents ]]; then
                find src/socklab/agents -type f ! -path '*/__pycache__/*' ! -name '*.pyc' ! -name '*.pyo'
            fi
        } | LC_ALL=C sort | xargs -r -d '\n' sha256sum | sha256sum | cut -c1-12
    )
}

case "${1:-}" in
    "") ;;
    --print-tag) [[ $# -eq 1 ]] || { usage >&2; exit 2; }
                 echo "$AGENT_REPO:$(content_hash)"; exit 0 ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
esac
[[ $# -le 1 ]] || { usage >&2; exit 2; }

[[ -f $REPO/images/agent/Dockerfile ]] || die "missing $REPO/images/agent/Dockerfile"
HASH=$(content_hash)
TAG=$AGENT_REPO:$HASH

image_exists() { docker image inspect "$1" >/dev/null 2>&1; }

# ---- 1. fast path ------------------------------------------------------------
if image_exists "$TAG"; then
    docker tag "$TAG" "$AGENT_REPO:latest"
    log "up to date: $TAG (also $AGENT_REPO:latest)"
    exit 0
fi

log "building $TAG"

# ---- 2. engine -----------------------------------------------------------------
"$REPO/scripts/ensure-docker.sh" || die "no Docker engine (see above)"

mkdir -p "$CACHE"
exec 8>"$CACHE/build.lock"
if ! flock -n 8; then
    log "another build-image.sh is running; waiting for it"
    flock -w 900 8 || die "timed out waiting for $CACHE/build.lock"
fi
HASH=$(content_hash); TAG=$AGENT_REPO:$HASH  # the sources may have moved on meanwhile
if image_exists "$TAG"; then
    docker tag "$TAG" "$AGENT_REPO:latest"
    log "built meanwhile by another run: $TAG"
    exit 0
fi

# ---- 3. base image ---------------------------------------------------------------
BASE_RECIPE=$(printf '%s\n' "v$BASE_RECIPE_VERSION" "$SUITE" "$VARIANT" "${PACKAGES[@]}" | sha256sum | cut -c1-12)
ROOTFS=$CACHE/rootfs/$SUITE-$BASE_RECIPE

apt_install() {
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q --no-install-recommends "$@" >/dev/null 2>&1 ||
        { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q --no-install-recommends "$@" >/dev/null; }
}

detect_mirror() {
    if [[ -n ${SOCKLAB_DEBIAN_MIRROR:-} ]]; then echo "$SOCKLAB_DEBIAN_MIRROR"; return; fi
    local m
    # shellcheck disable=SC2016  # $(...) here is apt's format syntax, not the shell's
    m=$(apt-get indextargets --format '$(REPO_URI) $(RELEASE) $(COMPONENT)' 'Created-By: Packages' 2>/dev/null |
        awk -v s="$SUITE" '$2 == s && $3 == "main" { print $1; exit }')
    echo "${m:-http://deb.debian.org/debian/}"
}

# Unmount anything left mounted below $1 (deepest first): never delete through a mount.
umount_below() {
    local dir mp
    dir=$(realpath -m "$1")
    while read -r mp; do
        umount "$mp" 2>/dev/null || umount -l "$mp"
    done < <(awk -v d="$dir/" 'index($5, d) == 1 { print $5 }' /proc/self/mountinfo | sort -r)
    if awk -v d="$dir/" 'index($5, d) == 1 { found = 1 } END { exit !found }' /proc/self/mountinfo; then
        die "something is still mounted below $dir; not deleting it"
    fi
}

remove_tree() { [[ -e $1 ]] || return 0; umount_below "$1"; rm -rf --one-file-system "$1"; }

trim_rootfs() {
    local r=$1
    rm -rf "$r"/var/lib/apt/lists/* "$r"/var/cache/apt/*.bin "$r"/var/cache/apt/archives/*.deb \
           "$r"/var/cache/apt/archives/partial/* "$r"/var/cache/debconf/*-old "$r"/var/lib/dpkg/*-old \
           "$r"/usr/share/man/* "$r"/usr/share/info/* "$r"/usr/share/lintian "$r"/usr/share/linda \
           "$r"/tmp/* "$r"/var/tmp/*
    # Keep the copyright files, drop the rest of the docs and the translations.
    find "$r/usr/share/doc" -mindepth 1 ! -type d ! -name copyright -delete
    find "$r/usr/share/doc" -mindepth 1 -type d -empty -delete
    find "$r/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +
    find "$r/var/log" -type f -delete
    # Docker provides /dev, resolv.conf, hostname and hosts at run time.
    find "$r/dev" -mindepth 1 -delete
    : >"$r/etc/resolv.conf"
    echo localhost >"$r/etc/hostname"
    # Later `apt-get install`s in derived images stay small too.
    cat >"$r/etc/dpkg/dpkg.cfg.d/socklab-slim" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/lintian/*
EOF
    cat >"$r/etc/apt/apt.conf.d/socklab-slim" <<'EOF'
APT::Install-Recommends "false";
APT::Install-Suggests "false";
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/*.bin || true"; };
EOF
}

build_rootfs() {
    [[ $(id -u) -eq 0 ]] || die "building $BASE_IMAGE needs root (debootstrap): run this script once as root"
    command -v debootstrap >/dev/null 2>&1 || {
        log "installing debootstrap with apt-get"
        apt_install debootstrap || die "apt-get install debootstrap failed"
    }
    local mirror work
    mirror=$(detect_mirror)
    work=$ROOTFS.partial
    remove_tree "$work"
    mkdir -p "$CACHE/debs" "$work"
    log "debootstrap --variant=$VARIANT $SUITE from $mirror (${#PACKAGES[@]} extra packages; log: $CACHE/debootstrap.log)"
    if ! debootstrap --variant="$VARIANT" --components=main --cache-dir="$CACHE/debs" \
            --include="$(IFS=,; echo "${PACKAGES[*]}")" "$SUITE" "$work" "$mirror" >"$CACHE/debootstrap.log" 2>&1; then
        umount_below "$work"
        tail -n 5 "$CACHE/debootstrap.log" >&2 || true
        [[ -f $work/debootstrap/debootstrap.log ]] && tail -n 5 "$work/debootstrap/debootstrap.log" >&2
        die "debootstrap failed (see $CACHE/debootstrap.log)"
    fi
    umount_below "$work"
    log "debootstrap done ($(du -sh --one-file-system "$work" | cut -f1)); trimming"
    trim_rootfs "$work"
    # Older recipes' root filesystems are of no further use.
    local old
    for old in "$CACHE/rootfs/$SUITE"-*; do
        [[ -e $old && $old != "$ROOTFS" && $old != "$work" ]] && remove_tree "$old"
    done
    remove_tree "$ROOTFS"
    mv "$work" "$ROOTFS"
    log "rootfs ready: $ROOTFS ($(du -sh --one-file-system "$ROOTFS" | cut -f1))"
}

base_recipe_of_image() {
    docker image inspect -f '{{index .Config.Labels "socklab.base.recipe"}}' "$BASE_IMAGE" 2>/dev/null || true
}

if [[ $(base_recipe_of_image) == "$BASE_RECIPE" ]]; then
    log "base image $BASE_IMAGE is up to date (recipe $BASE_RECIPE)"
else
    if [[ -d $ROOTFS ]]; then
        log "reusing cached rootfs $ROOTFS"
    else
        build_rootfs
    fi
    log "docker import $ROOTFS -> $BASE_IMAGE"
    tar --numeric-owner --xattrs --xattrs-include='security.capability' -C "$ROOTFS" -c . |
        docker import \
            --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
            --change 'CMD ["/bin/bash"]' \
            --change "LABEL socklab.base.recipe=$BASE_RECIPE" \
            --message "socklab debootstrap $SUITE $VARIANT recipe $BASE_RECIPE" \
            - "$BASE_IMAGE" >/dev/null
    log "imported $BASE_IMAGE ($(docker image inspect -f '{{.Size}}' "$BASE_IMAGE" | numfmt --to=si)B)"
fi

# ---- 4. agent image -----------------------------------------------------------------
CTX=$(mktemp -d "$CACHE/context.XXXXXX")
trap 'rm -rf "$CTX"' EXIT
stage_context() {
    rm -rf "${CTX:?}"/*
    cp "$REPO/images/agent/Dockerfile" "$CTX/Dockerfile"
    mkdir "$CTX/agents"
    if [[ -d $REPO/src/socklab/agents ]]; then
        tar -C "$REPO/src/socklab/agents" --exclude=__pycache__ --exclude='*.pyc' --exclude='*.pyo' -c . |
            tar -C "$CTX/agents" -x
    fi
}
# The sources may be edited while we run: the staged copy must match the tag.
for _ in 1 2 3 4 5; do
    stage_context
    now=$(content_hash)
    [[ $now != "$HASH" ]] || break
    log "sources changed while building; now $AGENT_REPO:$now"
    HASH=$now TAG=$AGENT_REPO:$now
done
[[ $(content_hash) == "$HASH" ]] || die "the sources keep changing; try again"
log "docker build $TAG ($(find "$CTX/agents" -type f | wc -l) agent files)"

# The legacy builder needs no buildx plugin and works with every engine version;
# an explicit DOCKER_BUILDKIT from the caller wins.
if [[ -z ${DOCKER_BUILDKIT:-} ]] && ! docker buildx version >/dev/null 2>&1; then
    export DOCKER_BUILDKIT=0
fi
docker build --build-arg "BASE=$BASE_IMAGE" --build-arg "SOCKLAB_IMAGE_HASH=$HASH" \
    -t "$TAG" -t "$AGENT_REPO:latest" "$CTX" 2>&1 |
    { grep -v -e '^DEPRECATED: The legacy builder' -e 'BuildKit is currently disabled' \
              -e 'Install the buildx component' -e 'https://docs.docker.com/go/buildx/' -e '^ *environment-variable\.$' -e '^ *$' || true; } |
    sed 's/^/    | /'
image_exists "$TAG" || die "docker build did not produce $TAG"
log "built $TAG and $AGENT_REPO:latest ($(docker image inspect -f '{{.Size}}' "$TAG" | numfmt --to=si)B)"
