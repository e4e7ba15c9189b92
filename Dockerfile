# The cxf-operator image: FROM scratch, so no base image is pulled from any registry. It
# holds the release binary, the shared libraries `ldd` lists for it (glibc's, from the
# machine that built it), CA certificates, and /etc/passwd and /etc/group naming the
# non-root user 65532 it runs as.
#
# scripts/image.sh builds the binary and lays out the build context (this file and
# rootfs/), then builds it with buildah, podman or docker:
#
#   scripts/image.sh build --tag registry.example.com/cxf-operator:0.1.0
#
# The project's tests build it this way and run it on a node (tests/node/).

FROM scratch
COPY rootfs/ /
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/cxf-operator"]
CMD ["run"]
