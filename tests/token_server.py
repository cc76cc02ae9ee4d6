#!/usr/bin/env python3
"""A minimal registry token server (distribution token auth) for tests.

    token_server.py PORT KEY.pem CERT.pem USER PASSWORD

Answers GET /token?service=...&scope=... with a JWT (RS256, cert chain in
x5c) granting the requested scope, if the request carries basic auth for
USER:PASSWORD; 401 otherwise. Listens on 127.0.0.1 only.
"""
import base64, http.server, json, subprocess, sys, time, urllib.parse, uuid

port, key, cert, user, password = sys.argv[1:6]
der = subprocess.run(["openssl", "x509", "-in", cert, "-outform", "DER"], capture_output=True, check=True).stdout


def b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def token(service, scopes):
    access = []
    for s in scopes:
        kind, name, actions = s.split(":")
        access.append({"type": kind, "name": name, "actions": actions.split(",")})
    now = int(time.time())
    header = {"alg": "RS256", "typ": "JWT", "x5c": [base64.b64encode(der).decode()]}
    claims = {"iss": "test-issuer", "sub": user, "aud": service, "exp": now + 600, "nbf": now - 10,
              "iat": now, "jti": str(uuid.uuid4()), "access": access}
    signing = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key], input=signing.encode(),
                         capture_output=True, check=True).stdout
    return f"{signing}.{b64(sig)}"


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        url = urllib.parse.urlparse(self.path)
        q = urllib.parse.parse_qs(url.query)
        want = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        if url.path != "/token" or self.headers.get("Authorization") != want:
            self.send_response(401)
            self.end_headers()
            return
        body = json.dumps({"token": token(q.get("service", [""])[0], q.get("scope", []))}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


http.server.HTTPServer(("127.0.0.1", int(port)), Handler).serve_forever()
