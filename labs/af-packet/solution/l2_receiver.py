"""Reference layer-2 receiver: an AF_PACKET socket bound to EtherType 0x88b5 on eth0."""
import socket

ETHERTYPE = 0x88B5
sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETHERTYPE))
sock.bind(("eth0", ETHERTYPE))
print("listening for EtherType 0x88b5", flush=True)
frame = sock.recv(1514)
print("frame from", frame[6:12].hex(":"), "type", hex(int.from_bytes(frame[12:14], "big")), ":",
      frame[14:].rstrip(b"\0").decode())
sock.close()
