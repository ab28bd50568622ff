#!/usr/bin/env python3
"""A Koji hub stand-in on Python's standard xmlrpc.server, for testing the Rust client.

It serves the recorded hub calls of a fixture file, plus a small session flow the
way kojihub does it: sslLogin on /kojihub/ssllogin, Koji-Session-* headers,
keyword arguments in a trailing ``__starstar`` struct, AuthExpired (1007) for an
expired session, and integers beyond 32 bits marshalled as ``<i8>`` like
koji.xmlrpcplus. Only the standard library is used, so the XML on both sides of
the wire comes from code this project did not write.

With ``--gssapi``, ``/kojihub/ssllogin`` is protected the way mod_auth_gssapi protects it
on Fedora's hub: a request without ``Authorization: Negotiate`` gets a ``401`` with
``WWW-Authenticate: Negotiate``, and a token is accepted with the python-gssapi package
and the service keytab that ``$KRB5_KTNAME`` names; the session then belongs to the
client's principal (``getLoggedInUser``). Only this mode imports gssapi.

Prints ``LISTENING <port>`` once it serves on 127.0.0.1. The extra methods
``conformance.recordedCalls`` and ``conformance.negotiations`` return what the hub received.
"""

import argparse
import base64
import json
import sys
import xmlrpc.client
from xmlrpc.server import SimpleXMLRPCRequestHandler, SimpleXMLRPCServer

LARGE_TASK_ID = 2**33 + 7


def dump_int_like_koji(marshaller, value, write):
    if xmlrpc.client.MININT <= value <= xmlrpc.client.MAXINT:
        write("<value><int>%d</int></value>\n" % value)
    else:
        write("<value><i8>%d</i8></value>\n" % value)


xmlrpc.client.Marshaller.dispatch[int] = dump_int_like_koji


class Hub:
    def __init__(self, recorded_calls):
        self.recorded = recorded_calls
        self.calls = []
        self.negotiations = []
        self.sessions = {}
        self.next_session = 100
        self.next_task = LARGE_TASK_ID
        self.expire_after_build = True

    def record(self, path, headers, method, args, kwargs):
        self.calls.append({
            "path": path,
            "method": method,
            "args": list(args),
            "kwargs": kwargs,
            "session_id": headers.get("Koji-Session-Id"),
            "session_key": headers.get("Koji-Session-Key"),
            "callnum": headers.get("Koji-Session-Callnum"),
            "content_type": headers.get("Content-Type"),
        })

    def answer(self, path, headers, principal, method, params):
        args, kwargs = decode_args(params)
        self.record(path, headers, method, args, kwargs)
        if method == "conformance.recordedCalls":
            return self.calls[:-1]
        if method == "conformance.negotiations":
            return self.negotiations
        if method == "sslLogin":
            return self.ssl_login(path, headers, kwargs, principal)
        if method == "getLoggedInUser":
            user = self.check_session(headers)["user"]
            return {"name": user, "krb_principals": [user] if "@" in user else []}
        if method in ("build", "cancelTask"):
            user = self.check_session(headers)
            return self.build(args, user) if method == "build" else None
        for call in self.recorded:
            if call["method"] == method and call["args"] == list(args):
                result = call["result"]
                if kwargs.get("request") and isinstance(result, dict):
                    result = dict(result, request=self.request_of(args[0]))
                return result
        if method == "getTaskInfo":
            return None
        raise xmlrpc.client.Fault(1000, "Invalid method: %s" % method)

    def request_of(self, task_id):
        for call in self.recorded:
            if call["method"] == "getTaskRequest" and call["args"] == [task_id]:
                return call["result"]
        return None

    def ssl_login(self, path, headers, kwargs, principal):
        if path != "/kojihub/ssllogin":
            raise xmlrpc.client.Fault(1002, "sslLogin must be called on /ssllogin")
        session_id = headers.get("Koji-Session-Id")
        if kwargs.get("renew") and session_id:
            session_id = int(session_id)
        else:
            self.next_session += 1
            session_id = self.next_session
        key = "2045-conformance%d" % len(self.calls)
        self.sessions[session_id] = {"key": key, "expired": False, "user": principal or "packit"}
        return {"session-id": session_id, "session-key": key, "header-auth": True}

    def check_session(self, headers):
        session = self.sessions.get(int(headers.get("Koji-Session-Id") or 0))
        if session is None or session["key"] != headers.get("Koji-Session-Key"):
            raise xmlrpc.client.Fault(1004, "you must be logged in for this operation")
        if session["expired"]:
            raise xmlrpc.client.Fault(1007, 'session "%s" has expired' % headers.get("Koji-Session-Id"))
        return session

    def build(self, args, session):
        if len(args) != 3 or args[2] != {"scratch": True}:
            raise xmlrpc.client.Fault(1019, "unexpected build arguments: %r" % (args,))
        if self.expire_after_build:
            session["expired"] = True
            self.expire_after_build = False
        self.next_task += 1
        return self.next_task


def framing_mech(token):
    """The mechanism OID (hex) that frames an initial token (RFC 2743, 3.1): SPNEGO's is
    2b0601050502."""
    if len(token) < 4 or token[0] != 0x60:
        return None
    start = 2 if token[1] < 0x80 else 2 + (token[1] & 0x7F)
    if len(token) < start + 2 or token[start] != 0x06:
        return None
    return token[start + 2:start + 2 + token[start + 1]].hex()


def decode_args(params):
    if params and isinstance(params[-1], dict) and params[-1].get("__starstar"):
        kwargs = dict(params[-1])
        del kwargs["__starstar"]
        return params[:-1], kwargs
    return params, {}


class KojiRequestHandler(SimpleXMLRPCRequestHandler):
    rpc_paths = ("/kojihub", "/kojihub/ssllogin")

    def log_message(self, format, *args):
        pass

    def do_POST(self):
        self.reply_token = None
        principal = None
        if self.server.gssapi and self.path == "/kojihub/ssllogin":
            principal = self.negotiate()
            if principal is None:
                return
        self.server.current = (self.path, self.headers, principal)
        super().do_POST()

    def negotiate(self):
        """The client's principal, or None after answering 401 as mod_auth_gssapi does."""
        import gssapi

        scheme, _, token = self.headers.get("Authorization", "").partition(" ")
        event = {"path": self.path, "authorization": scheme or None}
        self.server.hub.negotiations.append(event)
        if scheme.lower() != "negotiate" or not token.strip():
            return self.refuse()
        try:
            token = base64.b64decode(token.strip())
            event["token_mech"] = framing_mech(token)
            context = gssapi.SecurityContext(usage="accept")
            self.reply_token = context.step(token)
            # SPNEGO hands back a reject token first and raises its error here.
            complete = context.complete
        except (gssapi.raw.misc.GSSError, ValueError) as error:
            self.reply_token = None
            event["error"] = str(error)
            return self.refuse()
        if not complete:
            self.reply_token = None
            event["error"] = "context not complete after one token"
            return self.refuse()
        event["principal"] = str(context.initiator_name)
        return event["principal"]

    def refuse(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(401)
        self.send_header("WWW-Authenticate", "Negotiate")
        self.send_header("Content-Length", "0")
        self.end_headers()
        return None

    def end_headers(self):
        if getattr(self, "reply_token", None):
            self.send_header("WWW-Authenticate", "Negotiate " + base64.b64encode(self.reply_token).decode())
        super().end_headers()


class KojiServer(SimpleXMLRPCServer):
    def __init__(self, hub, gssapi):
        super().__init__(("127.0.0.1", 0), requestHandler=KojiRequestHandler, allow_none=True, logRequests=False)
        self.hub = hub
        self.gssapi = gssapi

    def _dispatch(self, method, params):
        path, headers, principal = self.current
        return self.hub.answer(path, headers, principal, method, params)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--recorded-calls", required=True)
    parser.add_argument("--gssapi", action="store_true", help="protect /kojihub/ssllogin with SPNEGO")
    options = parser.parse_args()
    if options.gssapi:
        import gssapi  # noqa: F401 -- fails here, before LISTENING, when it is missing
    with open(options.recorded_calls) as handle:
        recorded = json.load(handle)
    server = KojiServer(Hub(recorded), options.gssapi)
    print("LISTENING %d" % server.server_address[1], flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
