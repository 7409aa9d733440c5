"""Mutant: a 1 ms timeout, far below the round trip: every chunk is sent many times."""
import socket
import struct
import sys

RECEIVER = ("10.0.7.2", 9000)
CHUNK = 1000
TIMEOUT = 0.001  # mutant: resends long before an ACK can be back (RTT is 10 ms)

data = open(sys.argv[1], "rb").read()
chunks = [data[i:i + CHUNK] for i in range(0, len(data), CHUNK)] + [b""]  # an empty chunk ends the file
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.settimeout(TIMEOUT)
sent = resent = 0
for seq, chunk in enumerate(chunks):
    packet = struct.pack("!I", seq) + chunk
    for attempt in range(5000):
        sock.sendto(packet, RECEIVER)
        sent += 1
        resent += attempt > 0
        try:
            while True:  # skip late or duplicated ACKs of earlier chunks
                ack, _ = sock.recvfrom(4)
                if len(ack) == 4 and struct.unpack("!I", ack)[0] == seq:
                    break
            break
        except TimeoutError:
            continue
    else:
        sys.exit(f"chunk {seq}: no ACK after 50 tries")
print(f"sent {len(data)} bytes in {len(chunks)} chunks: {sent} datagrams, {resent} retransmissions")
