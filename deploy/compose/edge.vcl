# Entry point of the edge in cluster.yaml. golive's edge VCL (deploy/edge/varnish/golive.vcl)
# is mounted unchanged beside this file and included below, after the two origins and a
# director that spreads the edge's requests over the healthy ones (a channel served by the
# other node is forwarded by golive itself). varnishd runs with -p vcc_err_unref=off, as the
# included VCL's own loopback backend is then left unused.
vcl 4.1;

import directors;

probe golive_ready {
    .url = "/readyz";
    .interval = 2s;
    .timeout = 1s;
    .window = 3;
    .threshold = 2;
}

# The same timeouts as the shipped VCL's backend (the test checks they agree).
backend golive_1 {
    .host = "golive-1";
    .port = "8080";
    .probe = golive_ready;
    .first_byte_timeout = 15s;
    .between_bytes_timeout = 10s;
    .connect_timeout = 2s;
}

backend golive_2 {
    .host = "golive-2";
    .port = "8080";
    .probe = golive_ready;
    .first_byte_timeout = 15s;
    .between_bytes_timeout = 10s;
    .connect_timeout = 2s;
}

sub vcl_init {
    new origins = directors.round_robin();
    origins.add_backend(golive_1);
    origins.add_backend(golive_2);
}

sub vcl_recv {
    set req.backend_hint = origins.backend();
}

include "./golive.vcl";
