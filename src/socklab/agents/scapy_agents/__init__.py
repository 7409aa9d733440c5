"""Agents built on scapy: ping, dns, arp, sniff, send/sendp.

Each module imports scapy (only the layers it needs) inside the function that runs
the agent, never at import time, so building the CLI parser and the socket agents
stay standard-library only.
"""
