"""Remote inference over openpi's websocket policy protocol: the wire format, a policy server, a client."""
