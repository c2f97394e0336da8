# caseledger: one static binary for every role, run as a non-root user.
# Build: docker build -t caseledger .   (compose.yaml builds it too)

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# modernc.org/sqlite is pure Go: the binaries need no C library.
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/caseledger ./cmd/caseledger \
 && CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/caseverify ./cmd/caseverify \
 && mkdir -p /out/data /out/keys

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/caseledger /out/caseverify /usr/local/bin/
COPY --from=build --chown=65532:65532 /out/data /data
# Keys (the writer key each process makes; the ledger's, given as a
# secret) live apart from the data they protect.
COPY --from=build --chown=65532:65532 /out/keys /keys
USER 65532:65532
WORKDIR /data
ENV CASELEDGER_DATA_DIR=/data CASELEDGER_KEYS_DIR=/keys
EXPOSE 8080 9464
HEALTHCHECK --interval=10s --timeout=5s --retries=6 CMD ["caseledger", "health"]
ENTRYPOINT ["caseledger"]
CMD ["serve"]
