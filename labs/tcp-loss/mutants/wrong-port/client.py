"""Mutant: connects to port 12346, where nothing listens."""
import socket
import struct
import time

TCP_INFO = 11  # struct tcp_info: tcpi_unacked (8th u32 after 8 bytes) tells what is still in flight


def unacked(sock: socket.socket) -> int:
    info = sock.getsockopt(socket.IPPROTO_TCP, TCP_INFO, 104)
    return struct.unpack_from("I", info, 8 + 4 * 4)[0]


sock = socket.create_connection(("192.168.21.1", 12346))
sock.sendall(b"part 1\n")
time.sleep(0.3)
start = time.monotonic()
sock.sendall(b"part 2\n")
while unacked(sock):  # the first copy is dropped: wait for the retransmission's ACK
    time.sleep(0.001)
print(f"part 2 took {(time.monotonic() - start) * 1000:.0f} ms to be acknowledged")
time.sleep(0.3)
sock.sendall(b"part 3\n")
sock.shutdown(socket.SHUT_WR)
sock.recv(1)  # wait for the server to close
sock.close()
