# syntax=docker/dockerfile:1
# The gitops-status image: a static binary on an empty base, run as uid
# 65532. `make image` builds it with the version stamped; `make oci` builds
# the same image without Docker (deploy/ociimage), and deploy/dockerfile_test.go
# keeps the two alike.
FROM golang:1.27 AS build
ARG VERSION=dev
ARG COMMIT=unknown
ARG DATE=unknown
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath \
        -ldflags "-s -w -X main.version=${VERSION} -X main.commit=${COMMIT} -X main.date=${DATE}" \
        -o /out/gitops-status ./cmd/gitops-status \
    && mkdir -p /out/data /out/tmp \
    && printf 'root:x:0:0:root:/root:/sbin/nologin\ngitops:x:65532:65532:gitops-status:/data:/sbin/nologin\n' > /out/passwd \
    && printf 'root:x:0:\ngitops:x:65532:\n' > /out/group \
    && printf 'hosts: files dns\n' > /out/nsswitch.conf

FROM scratch
ARG VERSION=dev
ARG COMMIT=unknown
ARG DATE=unknown
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/passwd /etc/passwd
COPY --from=build /out/group /etc/group
COPY --from=build /out/nsswitch.conf /etc/nsswitch.conf
COPY --from=build --chmod=1777 /out/tmp /tmp
COPY --from=build --chown=65532:65532 --chmod=700 /out/data /data
COPY --from=build /out/gitops-status /gitops-status
ENV PATH=/ GITOPS_STATUS_DATA_DIR=/data
USER 65532:65532
WORKDIR /
EXPOSE 5000/tcp
VOLUME ["/data"]
STOPSIGNAL SIGTERM
# No shell in the image: the binary checks its own /ready.
HEALTHCHECK --interval=30s --timeout=5s --retries=3 CMD ["/gitops-status", "healthcheck"]
LABEL org.opencontainers.image.title="gitops-status" \
      org.opencontainers.image.description="Is every server what git says it should be, and since when?" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${COMMIT}" \
      org.opencontainers.image.created="${DATE}" \
      org.opencontainers.image.source="https://github.com/gitops-status/gitops-status" \
      org.opencontainers.image.licenses="NOASSERTION"
ENTRYPOINT ["/gitops-status"]
CMD ["serve"]
