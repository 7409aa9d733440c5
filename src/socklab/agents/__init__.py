"""Small socket programs run inside lab nodes: `python3 -m socklab.agents KIND ROLE [options]`.

They are reference peers for students' programs and probes for graders. The socket
agents (tcp, udp, raw, packet, unix) use only the standard library because nodes may
be minimal containers with nothing but python3; the scapy agents (ping, dns, arp,
sniff, send, sendp) import scapy only when they run. Nothing is imported here, so
`import socklab.agents.tcp` costs one module.
"""
