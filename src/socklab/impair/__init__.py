"""Impaired links and exact faults: a transparent relay inside each impaired link.

An impaired link is wired as  a <-veth-> relay:l<N>a · relay:l<N>b <-veth-> b, both relay
ends in one hidden namespace per instance (`sl-<instance>.~relay`). One relay process per
lab (relay.py) forwards frames between the two ends of every impaired link with AF_PACKET
sockets, applying per-direction impairments drawn from a seeded PRNG and exact faults
matched with the expectations' packet matcher. Why a relay and not qdiscs: kernels like
this one have no netem, and a relay socklab controls is the only way to make "the third
UDP datagram from client" exact and the same on every kernel and both backends.

config.py builds the relay's configuration from a Lab and Plan; lifecycle.py starts, asks
and removes the relay; engine.py is what forwards frames.
"""
