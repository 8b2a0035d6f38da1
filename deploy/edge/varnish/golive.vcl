# Varnish edge for golive's LL-HLS (and DASH) media: docs/edge-cache.md.
#
# What it does, and why:
# - Caches /live/... and /p/<token>/live/... by URL, query string included: every blocking
#   playlist reload (?_HLS_msn=M&_HLS_part=P) is its own object, and so is every part.
# - Concurrent identical requests are coalesced: the first goes to the origin, the rest wait
#   on the object's waiting list and are woken as soon as its headers arrive, without polling.
#   golive holds a blocking reload or a preload-hinted part until the part exists, so a whole
#   audience asking for the next part costs the origin one request per URL per edge.
# - Streams (do_stream): a segment still being built reaches every viewer part by part.
# - Follows golive's Cache-Control, with no grace (a stale live playlist is a late one), and
#   keeps 4xx for no time at all (a 404 for a part that does not exist yet must not stick)
#   and 5xx for 1 s.
#
# Origin: edit .host/.port below (or start varnishd with -b host:port and without this
# backend). With several origins, declare them and a director before including this file
# (deploy/compose/edge.vcl): any golive node answers for any channel, forwarding inside the
# cluster, so the edge routes nothing itself.

vcl 4.1;

backend origin {
    .host = "127.0.0.1";
    .port = "8080";
    # golive holds a blocking reload up to 3 target durations, a preload-hinted part up to
    # 3 part targets + 1 s, and a stream that is starting up to 6 s: wait longer than that.
    .first_byte_timeout = 15s;
    # A growing segment is sent part by part; golive ends it after target duration + 1 s of
    # silence.
    .between_bytes_timeout = 10s;
    .connect_timeout = 2s;
}

sub vcl_recv {
    if (req.http.Upgrade ~ "(?i)websocket") {
        # The chat's WebSocket: a tunnel to the origin.
        return (pipe);
    }
    if (req.url !~ "^/(p/[^/]+/)?live/") {
        # The API, the pages, the chat: not the edge's business here.
        return (pass);
    }
    if (req.method != "GET" && req.method != "HEAD") {
        return (pass);
    }
    # CMCD data is per player (its session id above all): in the URL it would make every
    # player's blocking reload a different object and end coalescing. Players are counted by
    # their page's presence beacon instead (docs/viewers.md).
    if (req.url ~ "[?&]CMCD=") {
        set req.url = regsuball(req.url, "([?&])CMCD=[^&]*&?", "\1");
        set req.url = regsub(req.url, "[?&]$", "");
    }
    # Media answers carry no per-user state (a signed playback token is in the path).
    unset req.http.Cookie;
    unset req.http.Authorization;
    # What this edge fetches stands for every player behind it: golive does not count it as
    # a viewer; the watch page's presence beacons (POST, passed above) count them.
    set req.http.X-Golive-Edge = "varnish";
    return (hash);
}

sub vcl_pipe {
    if (req.http.Upgrade) {
        set bereq.http.Upgrade = req.http.Upgrade;
        set bereq.http.Connection = req.http.Connection;
    }
}

sub vcl_hash {
    # The URL alone (query included): the same media whatever host name a player used.
    hash_data(req.url);
    return (lookup);
}

sub vcl_backend_response {
    set beresp.do_stream = true;
    # A stale playlist is a late one: no grace, nothing kept for revalidation.
    set beresp.grace = 0s;
    set beresp.keep = 0s;
    if (beresp.status >= 500) {
        # The stream stalled or the origin is failing: the same answer for everyone for a
        # moment, so that a crowd does not queue behind it one request at a time.
        set beresp.ttl = 1s;
        return (deliver);
    }
    if (beresp.status >= 400) {
        # 404 for a part not in the window yet (or any more), 400 for a reload too far
        # ahead: true only now. Expired at once, and not a hit-for-miss either, which would
        # stop coalescing on this URL when the part does appear.
        set beresp.ttl = 0s;
        return (deliver);
    }
    if (beresp.http.Cache-Control ~ "(?i)no-store|private") {
        set beresp.uncacheable = true;
        set beresp.ttl = 0s;
        return (deliver);
    }
    # Otherwise golive's max-age stands: a year for parts and segments (immutable; LRU
    # evicts them), 1 s for a live playlist, 3 target durations for a blocking reload's
    # answer. No Set-Cookie is expected on media; the built-in VCL is skipped.
    return (deliver);
}

sub vcl_deliver {
    # Whether this answer came from the cache, for curl and the tests.
    if (obj.uncacheable) {
        set resp.http.X-Cache = "PASS";
    } elsif (obj.hits > 0) {
        set resp.http.X-Cache = "HIT";
    } else {
        set resp.http.X-Cache = "MISS";
    }
}
