# Entry point of the edge in Kubernetes. golive's edge VCL (deploy/edge/varnish/golive.vcl)
# is mounted unchanged beside this file and included below; the backend here is declared
# first, so it is the default one: the origin Service (origin-services.yaml), whose cluster IP
# spreads requests over the ready origins. A channel served by another node is forwarded by
# golive itself. varnishd runs with -p vcc_err_unref=off, as the included VCL's own loopback
# backend is then left unused.
vcl 4.1;

backend golive_origin {
    .host = "golive-origin";
    .port = "8080";
    # The same timeouts as the shipped VCL's backend (the test checks they agree).
    .first_byte_timeout = 15s;
    .between_bytes_timeout = 10s;
    .connect_timeout = 2s;
}

include "./golive.vcl";
