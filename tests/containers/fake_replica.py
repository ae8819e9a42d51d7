#!/usr/bin/env python3
"""A stand-in for one backend replica, for the proxy tests that need a replica to misbehave on purpose or to
report exactly what nginx sent it. It never replaces the real backends in the other tests.

    fake_replica.py --listen 127.0.0.2:3001 --mode record|hangup --log FILE

record   answers every request 200 {"success":true,"replica":"fake"} (HTTP/1.1, keep-alive) and logs it
hangup   reads the whole request, logs it, then closes the connection without answering: the request
         reached a replica, which died before answering
Each request is logged as one JSON line: connection id (client port), method, target, version, headers, body size.
"""
import argparse
import json
import socket
import socketserver
import sys
import threading

LOCK = threading.Lock()


class Handler(socketserver.StreamRequestHandler):
    def handle(self):
        port = self.client_address[1]
        while True:
            line = self.rfile.readline(65537)
            if not line:
                return
            if line in (b"\r\n", b"\n"):
                continue
            method, target, version = line.decode("latin-1").rstrip("\r\n").split(" ", 2)
            headers = []
            while True:
                h = self.rfile.readline(65537)
                if h in (b"\r\n", b"\n", b""):
                    break
                name, _, value = h.decode("latin-1").partition(":")
                headers.append([name.strip(), value.strip()])
            length = int(next((v for k, v in headers if k.lower() == "content-length"), "0"))
            body = self.rfile.read(length) if length else b""
            record = {"conn": port, "method": method, "target": target, "version": version,
                      "headers": headers, "body_bytes": len(body)}
            with LOCK:
                with open(self.server.log_path, "a", encoding="utf-8") as f:
                    f.write(json.dumps(record) + "\n")
            if self.server.mode == "hangup":
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            payload = b'{"success":true,"replica":"fake"}'
            self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nCache-Control: no-store\r\n"
                             b"Content-Length: " + str(len(payload)).encode() + b"\r\n\r\n" + payload)
            self.wfile.flush()
            if any(k.lower() == "connection" and v.lower() == "close" for k, v in headers):
                return


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--listen", required=True)
    parser.add_argument("--mode", choices=["record", "hangup"], required=True)
    parser.add_argument("--log", required=True)
    args = parser.parse_args()
    host, port = args.listen.rsplit(":", 1)
    server = Server((host, int(port)), Handler)
    server.mode = args.mode
    server.log_path = args.log
    print(f"fake replica ({args.mode}) on {args.listen}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
