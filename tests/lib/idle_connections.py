# idle_connections.py PORT N WANT - open N idle TCP connections from 127.0.0.2 to 127.0.0.1:PORT
# (connections refused are not counted), wait until the server has closed WANT of them (or 20 s),
# print "<still open> <opened>", then hold the rest for 10 minutes. Used by the connection-limit
# tests (it.api_security, it.dashboard_connections).
import select, socket, sys, time
port, n, want = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
socks = []
for _ in range(n):
    s = socket.socket()
    s.bind(("127.0.0.2", 0))
    try:
        s.connect(("127.0.0.1", port))
    except OSError:
        continue
    socks.append(s)
closed = set()
end = time.monotonic() + 20
while len(closed) < want and time.monotonic() < end:
    ready, _, _ = select.select([s for s in socks if s not in closed], [], [], 0.5)
    for s in ready:
        try:
            data = s.recv(1)
        except OSError:
            data = b""
        if not data:
            closed.add(s)
print(len(socks) - len(closed), len(socks), flush=True)
time.sleep(600)
