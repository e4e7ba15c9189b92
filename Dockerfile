# syntax=docker/dockerfile:1
# The cxf-operator image: a release build on Debian 12 (bookworm), run on distroless's
# glibc image of the same Debian release, as the non-root user 65532.
#
#   docker build -t cxf-operator:0.1.0 .
#
# Not exercised by the project's tests (no container runtime on our machines).

FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
# Caches keep the crate registry and the build between image builds.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin cxf-operator \
 && install -D -m 0755 target/release/cxf-operator /out/cxf-operator

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/cxf-operator /usr/local/bin/cxf-operator
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/cxf-operator"]
CMD ["run"]
